/** @odoo-module **/

import { useEffect } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useDebounced } from "@web/core/utils/timing";
import { TextField, textField } from "@web/views/fields/text/text_field";

/**
 * The campaign message: a text field that hands its value to the record while the user
 * types (debounced), so the server recomputes the character, encoding, segment and cost
 * counters with the same rules the sending uses (core/encoding.py), footer, signature and
 * short links included. No second implementation of GSM 03.38 in JavaScript.
 */
export class SmsMarketingBodyField extends TextField {
    setup() {
        super.setup();
        const commit = useDebounced(() => {
            const el = this.textareaRef.el;
            if (el && el.value !== (this.props.record.data[this.props.name] || "")) {
                this.props.record.update({ [this.props.name]: el.value });
            }
        }, 300);
        useEffect(
            (el) => {
                if (!el) {
                    return;
                }
                el.addEventListener("input", commit);
                return () => el.removeEventListener("input", commit);
            },
            () => [this.textareaRef.el]
        );
    }
}

registry.category("fields").add("sms_marketing_body", {
    ...textField,
    component: SmsMarketingBodyField,
});
