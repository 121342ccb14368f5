/** @odoo-module **/

import { Component, onWillDestroy, xml } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useRecordObserver } from "@web/model/relational_model/utils";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

const { DateTime } = luxon;

/** Seconds between two reads of a campaign whose messages are being sent. */
export const SENDING_INTERVAL = 5;
/** Seconds between two reads while results still come in (paused, or done lately). */
export const SETTLING_INTERVAL = 30;
/** Delivery reports and most clicks arrive within this many days of the end of sending. */
const SETTLING_DAYS = 2;
/** A scheduled campaign is followed from this many minutes before it starts. */
const STARTING_MINUTES = 2;
/**
 * An open form costs the server at most 1/LOAD_SHARE of its time: a read that took 0.3 s
 * waits at least 0.3 s × LOAD_SHARE before the next one.
 */
const LOAD_SHARE = 25;
/** The longest wait between two reads (after slow reads or failures). */
const MAX_INTERVAL = 300;

/**
 * Seconds until the campaign form should be read again, or null when nothing it shows
 * is expected to change on its own.
 *
 * @param {Object} data the campaign record's data (state, scheduled_at, done_at)
 * @param {DateTime} now
 */
export function refreshInterval(data, now = DateTime.now()) {
    switch (data.state) {
        case "sending":
            return SENDING_INTERVAL;
        case "paused":
            return SETTLING_INTERVAL;
        case "scheduled":
            // not hours ahead: the form of a scheduled campaign is still being edited
            return data.scheduled_at &&
                data.scheduled_at.diff(now, "minutes").minutes < STARTING_MINUTES
                ? SETTLING_INTERVAL
                : null;
        case "done":
            return data.done_at && now.diff(data.done_at, "days").days < SETTLING_DAYS
                ? SETTLING_INTERVAL
                : null;
        default:
            return null;
    }
}

/**
 * Keeps an open campaign form live: while its messages are prepared and sent, and for a
 * while after, the progress bars, KPIs and state are read again from the server, so the
 * marketer sees them move without reloading the page. Never while the record has unsaved
 * changes, and not while the browser tab is hidden. A read that took long makes the next
 * one wait longer; failed reads (connection lost, server restarting) are retried, waiting
 * twice as long each time, without an error dialog.
 */
export class SmsMarketingLiveRefresh extends Component {
    static template = xml`<span class="d-none o_sms_marketing_live_refresh"/>`;
    static props = { ...standardWidgetProps };

    setup() {
        this.timeout = null;
        this.alive = true;
        this.recordId = null;
        this.lastLoadSeconds = 0;
        this.failures = 0;
        // Called at once, then whenever the state or dates change (a button, a read) and
        // when the pager shows another campaign: the next read is planned from them.
        useRecordObserver((record) => {
            if (record.id !== this.recordId) {
                this.recordId = record.id;
                this.lastLoadSeconds = 0;
                this.failures = 0;
            }
            this.schedule(refreshInterval(record.data));
        });
        onWillDestroy(() => {
            this.alive = false;
            clearTimeout(this.timeout);
        });
    }

    /** @param {number|null} interval seconds, or null to look again later */
    schedule(interval) {
        clearTimeout(this.timeout);
        if (!this.alive) {
            return;
        }
        const seconds = Math.min(
            MAX_INTERVAL,
            Math.max(interval || SETTLING_INTERVAL, this.lastLoadSeconds * LOAD_SHARE) *
                2 ** this.failures
        );
        this.timeout = setTimeout(() => this.refresh(), seconds * 1000);
    }

    async refresh() {
        const record = this.props.record;
        if (record.resId && refreshInterval(record.data) && !document.hidden) {
            const started = performance.now();
            try {
                if (!(await record.isDirty()) && this.alive) {
                    await record.load();
                    this.lastLoadSeconds = (performance.now() - started) / 1000;
                }
                this.failures = 0;
            } catch {
                this.failures++;
            }
        }
        this.schedule(refreshInterval(this.props.record.data));
    }
}

registry.category("view_widgets").add("sms_marketing_live_refresh", {
    component: SmsMarketingLiveRefresh,
    // what refreshInterval reads, loaded whether or not the view shows it
    fieldDependencies: [
        { name: "state", type: "selection" },
        { name: "scheduled_at", type: "datetime" },
        { name: "done_at", type: "datetime" },
    ],
});
