import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("sms_marketing_reporting_tour", {
    steps: () => [
        {
            content: "The dashboard shows the SMS sent in the last 30 days",
            trigger: ".o_sms_dashboard .o_sms_dashboard_sent .o_sms_dashboard_value:contains(3)",
        },
        {
            content: "... the clicks, and the gateway's health",
            trigger: ".o_sms_dashboard:has(.o_sms_dashboard_clicked .o_sms_dashboard_value:contains(1)):has(.o_sms_dashboard_gateways td:contains(Tour report gateway))",
        },
        {
            content: "Look at the last 7 days",
            trigger: ".o_sms_dashboard_days:contains(7)",
            run: "click",
        },
        {
            content: "Open the analysis",
            trigger: ".o_sms_dashboard_analysis",
            run: "click",
        },
        {
            content: "The pivot of the SMS, with their rates",
            trigger: ".o_pivot_view table:contains(Click Rate (%))",
        },
        {
            content: "Go to the segments",
            trigger: ".o_menu_sections .dropdown-toggle:contains(Contacts)",
            run: "click",
        },
        {
            content: "Audience Segments",
            trigger: ".o-dropdown--menu .dropdown-item:contains(Audience Segments)",
            run: "click",
        },
        {
            content: "New segment",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour Champions",
        },
        {
            content: "Keep the contacts of an RFM group",
            trigger: ".o_field_widget[name=behaviour] select",
            run: 'select "rfm"',
        },
        {
            content: "The champions",
            trigger: ".o_field_widget[name=rfm_group] select",
            run: 'select "champions"',
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "The segment finds the champions",
            trigger: ".o_field_widget[name=sample_partner_ids]:contains(Tour Champ A):contains(Tour Champ B)",
        },
        {
            content: "Open the conversations",
            trigger: ".o_menu_sections .o_nav_entry:contains(Conversations)",
            run: "click",
        },
        {
            content: "The contact who answered is unread",
            trigger: ".o_data_row:contains(Tour Talk) button[name=action_open]",
            run: "click",
        },
        {
            content: "The thread shows their question",
            trigger: ".o_sms_thread:contains(Are you open on Sunday?)",
        },
        {
            content: "Write the answer",
            trigger: ".o_field_widget[name=reply_body] textarea",
            run: "edit Yes, from 10 to 18. See you!",
        },
        {
            content: "The counter follows",
            trigger: ".o_field_widget[name=reply_counter]:contains(GSM-7)",
        },
        {
            content: "Send it",
            trigger: "button[name=action_send_reply]",
            run: "click",
        },
        {
            content: "The answer is in the thread",
            trigger: ".o_sms_thread .o_sms_out:contains(See you!)",
        },
    ],
});
