import { registry } from "@web/core/registry";

/**
 * What the test gives the tour in the query string of the page the tour opened (the
 * navigation entry keeps that first address whatever the router does next): the
 * integrator's API key (``tour_key``) and the company currency (``tour_currency``).
 */
function tourParam(name) {
    const [entry] = performance.getEntriesByType("navigation");
    const value = new URL(entry.name).searchParams.get(name);
    if (!value) {
        throw new Error(`no ${name} in the tour's address`);
    }
    return value;
}

/** POST one event to the integrator API as a shop would; fail the step unless created. */
async function postEvent(event) {
    const response = await fetch("/sms_marketing/api/v1/events", {
        method: "POST",
        headers: {
            Authorization: `Bearer ${tourParam("tour_key")}`,
            "Content-Type": "application/json",
        },
        body: JSON.stringify({ events: [event] }),
    });
    const answer = await response.json();
    if (response.status !== 200 || answer.created !== 1) {
        throw new Error(`event not created: ${response.status} ${JSON.stringify(answer)}`);
    }
}

const CUSTOMER = { phone: "+8613800138811" };

registry.category("web_tour.tours").add("sms_marketing_automation_tour", {
    steps: () => [
        {
            content: "Open the Automation menu",
            trigger: ".o_menu_sections .dropdown-toggle:contains(Automation)",
            run: "click",
        },
        {
            content: "Choose the ready-made flows",
            trigger: ".o-dropdown--menu .dropdown-item:contains(Ready-made Flows)",
            run: "click",
        },
        {
            content: "Pick the abandoned-cart recovery",
            trigger: ".modal .o_field_widget[name=template] label:contains(Abandoned-cart recovery)",
            run: "click",
        },
        {
            content: "It says what it does",
            trigger: ".modal .o_field_widget[name=description]:contains(Ends when the order is placed)",
        },
        {
            content: "Install it",
            trigger: ".modal button[name=action_install]",
            run: "click",
        },
        {
            content: "The flow is drawn: wait, the cart reminder, a branch on the click",
            trigger:
                ".o_sms_flow_diagram:has(.o_sms_flow_wait):has(.o_sms_flow_send:contains(Cart reminder)):has(.o_sms_flow_branch)",
        },
        {
            content: "The branch's 'no' side sends the last reminder",
            trigger: ".o_sms_flow_side:contains(No) .o_sms_flow_send:contains(Last reminder)",
        },
        {
            content: "Start the flow",
            trigger: "button[name=action_start]",
            run: "click",
        },
        {
            content: "The flow is running",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Running)",
        },
        {
            content: "The shop reports an abandoned cart through the integrator API",
            trigger: ".o_form_view .o_sms_flow_diagram",
            async run() {
                await postEvent({
                    type: "cart_abandoned",
                    external_id: "tour-cart-1",
                    customer: CUSTOMER,
                    recovery_url: "https://shop.example/cart/recover/tour",
                    lines: [{ product: "SKU-TEA", quantity: 2, price: 99.5 }],
                });
            },
        },
        {
            content: "Reload the flow",
            trigger: "button[name=action_view_enrollments]",
            run() {
                window.location.reload();
            },
        },
        {
            content: "The customer entered: one enrollment, waiting an hour",
            trigger: ".o_sms_flow_wait .o_sms_flow_count_waiting .o_sms_flow_count_value:contains(1)",
        },
    ],
});

registry.category("web_tour.tours").add("sms_marketing_automation_goal_tour", {
    steps: () => [
        {
            content: "The cart reminder went out through the simulator and was delivered",
            trigger:
                ".o_sms_flow_send:contains(Cart reminder):has(.o_sms_flow_count_sent .o_sms_flow_count_value:contains(1)):has(.o_sms_flow_count_delivered .o_sms_flow_count_value:contains(1))",
        },
        {
            content: "The customer's click on the cart link is counted",
            trigger:
                ".o_sms_flow_send:contains(Cart reminder) .o_sms_flow_count_clicked .o_sms_flow_count_value:contains(1)",
        },
        {
            content: "The shop reports the order",
            trigger: ".o_sms_flow_diagram",
            async run() {
                await postEvent({
                    type: "order",
                    external_id: "tour-order-1",
                    amount: 199,
                    currency: tourParam("tour_currency"),
                    customer: CUSTOMER,
                });
            },
        },
        {
            content: "Reload the flow",
            trigger: ".o_sms_flow_diagram",
            run() {
                window.location.reload();
            },
        },
        {
            content: "The goal is reached, with the order's revenue",
            trigger: ".o_sms_flow_goal:contains(1):contains(199.00)",
        },
        {
            content: "Open who clicked",
            trigger:
                ".o_sms_flow_send:contains(Cart reminder) .o_sms_flow_count_clicked",
            run: "click",
        },
        {
            content: "The customer's enrollment reached the goal",
            trigger: ".o_list_view .o_data_row:contains(Tour Cart):contains(Goal Reached)",
        },
    ],
});
