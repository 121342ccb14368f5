/** @odoo-module **/

import { Component, onMounted, onWillUnmount, xml } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

const { DateTime } = luxon;

/** Seconds between two reloads of a campaign whose messages are being sent. */
export const SENDING_INTERVAL = 5;
/** Seconds between two reloads while results still come in (paused, or done lately). */
export const SETTLING_INTERVAL = 30;
/** Delivery reports and most clicks arrive within this many days of the end of sending. */
const SETTLING_DAYS = 2;
/**
 * An open form costs the server at most 1/LOAD_SHARE of its time: a read that took 0.3 s
 * (KPIs of a campaign of millions) waits at least 0.3 s × LOAD_SHARE before the next one.
 */
const LOAD_SHARE = 25;

/**
 * Seconds until the campaign form should be read again, or null when nothing it shows
 * is expected to change on its own.
 *
 * @param {Object} data the campaign record's data (state, done_at)
 * @param {DateTime} now
 */
export function refreshInterval(data, now = DateTime.now()) {
    if (data.state === "sending") {
        return SENDING_INTERVAL;
    }
    if (data.state === "scheduled" || data.state === "paused") {
        return SETTLING_INTERVAL;
    }
    if (data.state === "done" && data.done_at && now.diff(data.done_at, "days").days < SETTLING_DAYS) {
        return SETTLING_INTERVAL;
    }
    return null;
}

/**
 * Keeps an open campaign form live: while its messages are prepared and sent, and for a
 * while after, the progress bars, KPIs and state are read again from the server, so the
 * marketer sees them move without reloading the page. Never while the record has unsaved
 * changes, and not while the browser tab is hidden; slower when a read takes long.
 */
export class SmsMarketingLiveRefresh extends Component {
    static template = xml`<span class="d-none o_sms_marketing_live_refresh"/>`;
    static props = { ...standardWidgetProps };

    setup() {
        this.timeout = null;
        this.alive = true;
        this.lastLoadSeconds = 0;
        onMounted(() => this.schedule());
        onWillUnmount(() => {
            this.alive = false;
            clearTimeout(this.timeout);
        });
    }

    schedule() {
        const seconds = Math.max(
            refreshInterval(this.props.record.data) || SETTLING_INTERVAL,
            this.lastLoadSeconds * LOAD_SHARE
        );
        this.timeout = setTimeout(() => this.refresh(), seconds * 1000);
    }

    async refresh() {
        const record = this.props.record;
        if (
            record.resId &&
            refreshInterval(record.data) &&
            !document.hidden &&
            !(await record.isDirty())
        ) {
            const started = performance.now();
            try {
                await record.load();
                this.lastLoadSeconds = (performance.now() - started) / 1000;
            } catch {
                // a background read that failed (connection lost, rights changed) must not
                // raise an error dialog every few seconds: stop, the next page load starts
                // again
                return;
            }
        }
        if (this.alive) {
            this.schedule();
        }
    }
}

registry.category("view_widgets").add("sms_marketing_live_refresh", {
    component: SmsMarketingLiveRefresh,
});
