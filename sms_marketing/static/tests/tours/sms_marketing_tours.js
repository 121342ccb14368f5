import { registry } from "@web/core/registry";

const CSV = [
    "Name,Phone,Email,Tags,Consent,Consent Source,Consent Date",
    "Tour Zhang,138 0013 8801,tour.zhang@example.com,Tour VIP,opt-in,store,2024-02-01",
    "Tour Li,+86 139 8801 0000,,Tour VIP,退订,,",
    "Tour Bad,12345,,,,,",
].join("\n");

/** Put a file in the (hidden) input of a binary field, as a browser file picker would. */
function uploadFile(selector, content, name, type) {
    const input = document.querySelector(selector);
    if (!input) {
        throw new Error(`No file input at ${selector}`);
    }
    const transfer = new DataTransfer();
    transfer.items.add(new File([content], name, { type }));
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
}

registry.category("web_tour.tours").add("sms_marketing_import_tour", {
    steps: () => [
        {
            content: "Open the Contacts menu of SMS Marketing",
            trigger: ".o_menu_sections .dropdown-toggle:contains(Contacts)",
            run: "click",
        },
        {
            content: "Choose Import Contacts",
            trigger: ".o-dropdown--menu .dropdown-item:contains(Import Contacts)",
            run: "click",
        },
        {
            content: "Upload a CSV file",
            trigger: ".modal .o_field_widget[name=file] .o_select_file_button",
            run() {
                uploadFile(
                    ".modal .o_field_widget[name=file] input[type=file]",
                    CSV,
                    "tour_contacts.csv",
                    "text/csv"
                );
            },
        },
        {
            content: "Wait for the file to be loaded",
            trigger: ".modal .o_field_widget[name=file] .o_clear_file_button",
        },
        {
            content: "Import",
            trigger: ".modal button[name=action_import]",
            run: "click",
        },
        {
            content: "Two contacts created",
            trigger: ".modal .o_field_widget[name=created_count]:contains(2)",
        },
        {
            content: "One row skipped, with its reason",
            trigger: ".modal .o_field_widget[name=result_line_ids] td:contains(Invalid phone number)",
        },
        {
            content: "The skipped rows can be downloaded",
            trigger: ".modal button[name=action_download_rejected]",
        },
        {
            content: "Go to the contacts",
            trigger: ".modal .modal-footer button:contains(See Contacts)",
            run: "click",
        },
        {
            content: "Search the imported contact",
            trigger: ".o_searchview_input",
            run: "edit Tour Zhang",
        },
        {
            content: "Validate the search",
            trigger: ".o_searchview_input",
            run: "press Enter",
        },
        {
            content: "The imported contact is listed as opted in",
            trigger: ".o_list_view .o_data_row:contains(Tour Zhang):contains(Opted In)",
        },
    ],
});

registry.category("web_tour.tours").add("sms_marketing_consent_tour", {
    steps: () => [
        {
            content: "Open the SMS tab of the contact",
            trigger: ".o_notebook .nav-link:contains(SMS)",
            run: "click",
        },
        {
            content: "No consent yet",
            trigger: ".o_field_widget[name=sms_consent_state]:contains(No Consent)",
        },
        {
            content: "Opt the contact in",
            trigger: "button[name=action_sms_opt_in]",
            run: "click",
        },
        {
            content: "Give the reason",
            trigger: ".modal .o_field_widget[name=reason] textarea",
            run: "edit Agreed on the phone with the tour",
        },
        {
            content: "Confirm",
            trigger: ".modal button[name=action_apply]",
            run: "click",
        },
        {
            content: "The contact is opted in",
            trigger: ".o_field_widget[name=sms_consent_state]:contains(Opted In)",
        },
        {
            content: "The change is in the consent history with its evidence",
            trigger: ".o_field_widget[name=sms_consent_ids] td:contains(Agreed on the phone with the tour)",
        },
        {
            content: "Opt the contact out again",
            trigger: "button[name=action_sms_opt_out]",
            run: "click",
        },
        {
            content: "Give the reason",
            trigger: ".modal .o_field_widget[name=reason] textarea",
            run: "edit Replied TD",
        },
        {
            content: "Confirm",
            trigger: ".modal button[name=action_apply]",
            run: "click",
        },
        {
            content: "The contact is opted out",
            trigger: ".o_field_widget[name=sms_consent_state]:contains(Opted Out)",
        },
    ],
});

registry.category("web_tour.tours").add("sms_marketing_campaign_tour", {
    steps: () => [
        {
            content: "Create a campaign",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour Sale",
        },
        {
            content: "Choose the audience",
            trigger: ".o_field_widget[name=segment_ids] input",
            run: "edit Tour Segment",
        },
        {
            content: "Pick the segment",
            trigger: ".o-autocomplete--dropdown-item:contains(Tour Segment)",
            run: "click",
        },
        {
            content: "Write the message with a placeholder and a link",
            trigger: ".o_field_widget[name=body] textarea",
            run: "edit Hi {{ first_name }}, our sale: https://shop.example/sale",
        },
        {
            content: "The counter follows the text while typing: GSM-7, one segment",
            trigger:
                ".o_sms_marketing_counter:has(.o_field_widget[name=counter_encoding]:contains(GSM-7)):has(.o_field_widget[name=counter_segments]:contains(1))",
        },
        {
            content: "Preview for a contact",
            trigger: ".o_field_widget[name=preview_partner_id] input",
            run: "edit Jane Tour",
        },
        {
            content: "Pick the contact",
            trigger: ".o-autocomplete--dropdown-item:contains(Jane Tour)",
            run: "click",
        },
        {
            content: "The preview is the message as sent: name, short link, footer",
            trigger:
                ".o_field_widget[name=preview_body]:contains(Hi Jane, our sale: http):contains(/t/):contains(Reply STOP to opt out)",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Send a test",
            trigger: "button[name=action_test]",
            run: "click",
        },
        {
            content: "To a number",
            trigger: ".modal .o_field_widget[name=numbers] textarea",
            run: "edit +1 415 555 0100",
        },
        {
            content: "Send the test",
            trigger: ".modal button[name=action_send]",
            run: "click",
        },
        {
            content: "The test is queued",
            trigger: ".o_notification:contains(queued for sending now)",
        },
        {
            content: "Send now",
            trigger: "button[name=action_launch]",
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "The campaign is sending",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Sending)",
        },
    ],
});

registry.category("web_tour.tours").add("sms_marketing_campaign_results_tour", {
    steps: () => [
        {
            content: "Delivered messages are counted",
            trigger: ".oe_stat_button:contains(Delivered) .o_stat_value:contains(2)",
        },
        {
            content: "One human click is counted (the bot's is not)",
            trigger: ".oe_stat_button:contains(Clicked) .o_stat_value:contains(1)",
        },
        {
            content: "Open the results",
            trigger: ".o_notebook .nav-link:contains(Results)",
            run: "click",
        },
        {
            content: "Explained exclusions: the contact without consent",
            trigger: ".o_field_widget[name=excluded_no_consent]:contains(1)",
        },
        {
            content: "Open the excluded contact",
            trigger: "button[name=action_view_traces]:has(.o_field_widget[name=excluded_no_consent])",
            run: "click",
        },
        {
            content: "It is listed with its reason",
            trigger: ".o_list_view .o_data_row:contains(No Consent Tour):contains(No Consent)",
        },
    ],
});

registry.category("web_tour.tours").add("sms_marketing_campaign_live_tour", {
    steps: () => [
        {
            content: "The sending campaign is open (2 to send, none delivered or clicked yet)",
            trigger: ".o_form_view .o_field_widget[name=name]:contains(Live Sale)",
            run() {
                // gone if the page is reloaded: the last step checks it is still there
                window.smsMarketingLiveTour = true;
            },
        },
        {
            content: "The open form follows: both delivered",
            trigger: ".oe_stat_button:contains(Delivered) .o_stat_value:contains(2)",
            timeout: 30000,
        },
        {
            content: "The phone's click is counted",
            trigger: ".oe_stat_button:contains(Clicked) .o_stat_value:contains(1)",
            timeout: 30000,
        },
        {
            content: "Nothing left to send",
            trigger: ".o_field_widget[name=kpi_queued]:contains(0)",
        },
        {
            content: "All on the same page: it was never reloaded",
            trigger: ".o_form_view",
            run() {
                if (!window.smsMarketingLiveTour) {
                    throw new Error("the page was reloaded");
                }
            },
        },
    ],
});
