/** @odoo-module **/

import { Component, onWillStart, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

/**
 * The SMS Marketing dashboard: the period's figures, SMS per day as bars, the best and
 * worst campaigns and the gateways' health, from ``sms.marketing.dashboard``.
 */
export class SmsMarketingDashboard extends Component {
    static template = "sms_marketing.Dashboard";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ days: 30, data: null });
        onWillStart(() => this.load());
    }

    async load() {
        this.state.data = await this.orm.call("sms.marketing.dashboard", "get_dashboard", [
            this.state.days,
        ]);
    }

    async setDays(days) {
        this.state.days = days;
        await this.load();
    }

    /** Bars of the chart: one group per day, heights relative to the busiest day. */
    get bars() {
        const series = this.state.data.series;
        const top = Math.max(1, ...series.map((day) => day.sent));
        const width = 100 / Math.max(series.length, 1);
        return series.map((day, index) => ({
            key: day.day,
            x: index * width,
            width: width * 0.8,
            sent: (day.sent / top) * 100,
            clicked: (day.clicked / top) * 100,
            title: `${day.day}: ${day.sent} / ${day.delivered} / ${day.clicked}`,
        }));
    }

    format(value, digits = 0) {
        return Number(value || 0).toLocaleString(undefined, {
            minimumFractionDigits: digits,
            maximumFractionDigits: digits,
        });
    }

    openAnalysis() {
        this.action.doAction("sms_marketing.sms_marketing_trace_report_action");
    }

    openCampaign(id) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "sms.marketing.campaign",
            res_id: id,
            views: [[false, "form"]],
        });
    }
}

registry.category("actions").add("sms_marketing_dashboard", SmsMarketingDashboard);
