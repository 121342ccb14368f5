# sms_marketing: the two commands a user needs are `make demo` and `make test`.
PYTHON ?= python3
DEMO_DB ?= sms_marketing_demo
PORT ?= 8069
export DEMO_DB PORT

.PHONY: help install db demo test test-pure test-quick bench-import bench-dispatch bench-campaign bench-events bench-automation bench-reports bench-sendtime clean

help:
	@echo "make demo        install dependencies, create $(DEMO_DB) with demo data, serve http://localhost:$(PORT)"
	@echo "make test        the whole suite: ruff, pylint-odoo, pure pytest, Odoo suite with tours"
	@echo "make test-pure   lint and pure-Python tests only (no Odoo: not a substitute for make test)"
	@echo "make test-quick  pytest-odoo on the already installed $(DEMO_DB) (fast developer loop)"
	@echo "make bench-import  import benchmark (100,000 rows)"
	@echo "make bench-dispatch  dispatch and webhook benchmark (100,000 traces; needs wrk)"
	@echo "make bench-campaign  campaign benchmark (1,000,000 recipients; 100,000 beside mass_mailing_sms)"
	@echo "make bench-events    integrator API benchmark (throughput, latency, races, fuzz)"
	@echo "make bench-automation  automation benchmark (1,000,000 contacts, 10,000,000 in history)"
	@echo "make bench-reports     reports (10,000,000 SMS) and behaviour presets (1,000,000 contacts)"
	@echo "make bench-sendtime    best send time lift on the simulator (20 campaigns)"

install:
	$(PYTHON) -m pip install -q -r requirements-dev.txt

db:
	$(PYTHON) tools/pg.py

demo: install db
	$(PYTHON) tools/demo.py

test: db
	$(PYTHON) tools/run_tests.py

test-pure:
	$(PYTHON) tools/run_tests.py --pure

# pytest-odoo reuses an installed database (after `make demo`, or any database with the
# addon installed: make test-quick DEMO_DB=mydb). Tests run in rolled-back transactions.
test-quick: db
	$(PYTHON) tools/test_quick.py

bench-import: db
	$(PYTHON) bench/import_contacts.py

clean:
	rm -rf .test-logs bench/results

bench-dispatch: db
	$(PYTHON) bench/dispatch.py

bench-campaign: db
	$(PYTHON) bench/campaign.py

bench-events: db
	$(PYTHON) bench/events.py

bench-automation: db
	$(PYTHON) bench/automation.py

bench-reports: db
	$(PYTHON) bench/reports.py

bench-sendtime: db
	$(PYTHON) bench/sendtime.py
