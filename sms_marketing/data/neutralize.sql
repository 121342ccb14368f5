-- A copied database must never send real SMS: keep only the simulator.
UPDATE sms_marketing_gateway
   SET active = FALSE
 WHERE provider != 'simulator';
