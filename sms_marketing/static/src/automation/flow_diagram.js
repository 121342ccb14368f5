/** @odoo-module **/

import { Component, onWillStart, onWillUpdateProps, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

/**
 * One path of the flow: its boxes top to bottom, a branch box splitting into its "yes"
 * and "no" sides side by side. Recursive.
 */
export class FlowPath extends Component {
    static template = "sms_marketing.FlowPath";
    static components = {};
    static props = { boxes: Array, labels: Object, openCount: Function };
}
FlowPath.components = { FlowPath };

/**
 * The flow form's diagram: steps and branches as boxes and arrows with their live counts
 * (waiting, passed, sent, delivered, clicked, converted, exited), from
 * ``sms.marketing.automation.get_diagram``; a count opens those enrollments.
 */
export class FlowDiagram extends Component {
    static template = "sms_marketing.FlowDiagram";
    static components = { FlowPath };
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ diagram: null });
        onWillStart(() => this.load(this.props.record));
        onWillUpdateProps((next) => this.load(next.record));
    }

    async load(record) {
        if (!record.resId) {
            this.state.diagram = null;
            return;
        }
        this.state.diagram = await this.orm.call("sms.marketing.automation", "get_diagram", [
            [record.resId],
        ]);
    }

    async openCount(stepId, key) {
        const action = await this.orm.call(
            "sms.marketing.automation.step",
            "action_view_enrollments",
            [[stepId]],
            { context: { count: key } }
        );
        this.action.doAction(action);
    }
}

registry.category("view_widgets").add("sms_marketing_flow_diagram", {
    component: FlowDiagram,
});
