"""The notification templates every portal starts with (editable afterwards):
``DEFAULT_TEMPLATES`` (method Email: HTML bodies, with a ``<style>`` block that is
inlined into each mail) and ``DEFAULT_NOTE_TEMPLATES`` (method Note: text bodies for
the in-portal inbox), one of each per message code."""
from __future__ import annotations

STYLE = """<style>
p { font-family: 'Segoe UI', Arial, sans-serif; font-size: 14px; color: #222; }
a.button { display: inline-block; padding: 8px 20px; border-radius: 4px; color: #ffffff; font-weight: bold; text-decoration: none; }
a.approve { background: #107c10; }
a.reject { background: #a4262c; }
table.lines { border-collapse: collapse; font-size: 13px; }
table.lines th, table.lines td { border: 1px solid #ccc; padding: 3px 6px; }
p.footer { color: #666666; font-size: 12px; }
</style>
"""
FOOTER = """
<p class="footer">You get this message because of your notification settings: <a href="{{ settings_link }}">change notification settings</a>.</p>"""

DEFAULT_TEMPLATES = [
    {
        "code": "approval_request",
        "type": "Approval",
        "description": "An approval request waits for the recipient",
        "subject": "Approval requested: {{ entry.record_title }}",
        "body": STYLE + """<p>Dear {{ recipient.full_name }},</p>
<p>{{ entry.sender }} asks you to approve <strong>{{ entry.record_title }}</strong>
(amount {{ entry.amount|money }} {{ entry.currency_code or 'USD' }}{% if entry.due_date %}, due {{ entry.due_date }}{% endif %}).</p>
{% if record.lines %}<table class="lines"><tr><th>Item</th><th>Description</th><th>Quantity</th><th>Line Amount</th></tr>
{% for line in record.lines %}<tr><td>{{ line.item_no }}</td><td>{{ line.description }}</td><td>{{ line.quantity }}</td><td>{{ line.line_amount|money }}</td></tr>
{% endfor %}</table>{% endif %}
{% if entry.approve_link %}<p><a class="button approve" href="{{ entry.approve_link }}">Approve</a> &nbsp; <a class="button reject" href="{{ entry.reject_link }}">Reject</a></p>{% endif %}
<p><a href="{{ link }}">Open the request</a> or go to Requests to Approve: <a href="{{ requests_link }}">{{ requests_link }}</a></p>""" + FOOTER,
    },
    {
        "code": "approval_approved",
        "type": "Approval",
        "description": "The sender's request was approved by everyone it went to",
        "subject": "Approved: {{ entry.record_title }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>Your approval request for <strong>{{ entry.record_title }}</strong> was approved{% if entry.approver %} by {{ entry.approver }}{% endif %}.
Nobody else has to approve it{% if record.status %}; its status is now {{ record.status }}{% endif %}.</p>
{% if message %}<p>Comment: {{ message }}</p>{% endif %}
<p><a href="{{ link }}">Open the record</a></p>""",
    },
    {
        "code": "approval_request_canceled",
        "type": "Approval",
        "description": "A request the recipient was asked to approve was canceled by its sender",
        "subject": "Request canceled: {{ entry.record_title }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>{{ entry.sender }} canceled the approval request for <strong>{{ entry.record_title }}</strong>: you don't need to approve it any more.</p>
<p><a href="{{ link }}">Open the record</a></p>""",
    },
    {
        "code": "approval_rejected",
        "type": "Approval",
        "description": "The sender's request was rejected",
        "subject": "Rejected: {{ entry.record_title }}",
        "body": STYLE + """<p>Dear {{ recipient.full_name }},</p>
<p>Your approval request for <strong>{{ entry.record_title }}</strong> was rejected.</p>
{% if message %}<p>Comment: {{ message }}</p>{% endif %}
<p><a href="{{ link }}">Open the record</a></p>""" + FOOTER,
    },
    {
        "code": "approval_canceled",
        "type": "Approval",
        "description": "An approval request was canceled",
        "subject": "Canceled: {{ entry.record_title }}",
        "body": STYLE + """<p>The approval request for <strong>{{ entry.record_title }}</strong> was canceled.</p>
<p><a href="{{ link }}">Open the record</a></p>""" + FOOTER,
    },
    {
        "code": "approval_delegated",
        "type": "Approval",
        "description": "The sender's request was delegated to another approver",
        "subject": "Delegated: {{ entry.record_title }}",
        "body": STYLE + """<p>Dear {{ recipient.full_name }},</p>
<p>Your approval request for <strong>{{ entry.record_title }}</strong> was delegated to {{ entry.approver }}.</p>
{% if message %}<p>Comment: {{ message }}</p>{% endif %}
<p><a href="{{ link }}">Open the record</a></p>""" + FOOTER,
    },
    {
        "code": "approval_overdue",
        "type": "Overdue",
        "description": "An approval request is past its due date",
        "subject": "Overdue approval request: {{ entry.record_title }}",
        "body": STYLE + """<p>Dear {{ recipient.full_name }},</p>
<p>The approval request for <strong>{{ entry.record_title }}</strong>, sent by {{ entry.sender }}
to {{ entry.approver }}, was due {{ entry.due_date }} and has not been decided yet.</p>
<p><a href="{{ link }}">Open the record</a> or go to Requests to Approve: <a href="{{ requests_link }}">{{ requests_link }}</a></p>""" + FOOTER,
    },
    {
        "code": "workflow_failed",
        "type": "New Record",
        "description": "A workflow could not run for a record the recipient acted on",
        "subject": "Workflow failed: {{ record.title or 'a record' }}",
        "body": STYLE + """<p>Dear {{ recipient.full_name }},</p>
<p>A workflow could not run for <strong>{{ record.title }}</strong>:</p>
<p>{{ message }}</p>
<p><a href="{{ link }}">Open the record</a></p>""" + FOOTER,
    },
    {
        "code": "workflow_notification",
        "type": "New Record",
        "description": "A notification created by a workflow's Create a notification response",
        "subject": "{{ record.title or 'Workflow notification' }}",
        "body": STYLE + """<p>Dear {{ recipient.full_name }},</p>
{% if message %}<p>{{ message }}</p>{% endif %}
<p><a href="{{ link }}">Open {{ record.title or 'the record' }}</a></p>""" + FOOTER,
    },
    {
        "code": "job_failed",
        "type": "Job Queue",
        "description": "A job queue entry failed after its last attempt and is in Error",
        "subject": "Job failed: {{ message|truncate(120) }}",
        "body": STYLE + """<p>Dear {{ recipient.full_name }},</p>
<p>A job queue entry you own failed and is now in status <strong>Error</strong>:</p>
<p>{{ message }}</p>
<p>It won't run again until it is set to Ready or restarted.
<a href="{{ link }}">Open the job queue entry</a> to see the error and its log entries.</p>""" + FOOTER,
    },
    {
        "code": "notification_digest",
        "type": "Digest",
        "description": "The digest of a Daily, Weekly or Monthly notification schedule: one message listing every pending notification",
        "subject": "{{ count }} {{ notification_type|lower }} notification{{ 's' if count != 1 else '' }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>Here {{ 'are' if count != 1 else 'is' }} your {{ count }} {{ notification_type|lower }} notification{{ 's' if count != 1 else '' }} since the last digest:</p>
<ul>
{% for e in entries %}<li><a href="{{ e.link }}">{{ e.subject }}</a> <small>({{ e.created_at }})</small></li>
{% endfor %}</ul>
<p><a href="{{ inbox_link }}">Open your notifications</a> · <a href="{{ settings_link }}">Change notification settings</a></p>""",
    },
    {
        "code": "customer_statement",
        "type": "New Record",
        "description": "Statement of a customer's open sales orders",
        "subject": "Statement of open orders — {{ record.name }}",
        "body": STYLE + """<p>Dear {{ record.contact or record.name }},</p>
{% if message %}<p>{{ message }}</p>{% endif %}
<p>Here is the statement of your open orders with Northwind Traders:</p>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>Order No.</th><th>Order Date</th><th>Status</th><th style="text-align:right">Amount</th></tr>
{% for o in open_orders %}<tr><td>{{ o.no }}</td><td>{{ o.order_date }}</td><td>{{ o.status }}</td><td style="text-align:right">{{ o.amount|money }}</td></tr>
{% else %}<tr><td colspan="4">No open orders.</td></tr>{% endfor %}
<tr><th colspan="3" style="text-align:left">Total</th><th style="text-align:right">{{ open_orders_total|money }}</th></tr>
</table>
<p>Kind regards,<br>Northwind Traders</p>""",
    },
    {
        "code": "vendor_blocked",
        "type": "New Record",
        "description": "A vendor's contact is told that the vendor is blocked",
        "subject": "Purchases on hold — {{ record.name }}",
        "body": STYLE + """<p>Dear {{ record.contact or record.name }},</p>
<p>We have put further purchases from {{ record.name }} (vendor {{ record.no }}) on hold.</p>
{% if message %}<p>{{ message }}</p>{% endif %}
<p>Kind regards,<br>Northwind Traders</p>""",
    },
]


#: Note (inbox) versions: text bodies, one per message code above.
DEFAULT_NOTE_TEMPLATES = [
    {"code": "approval_request", "type": "Approval", "description": "An approval request waits for the recipient",
     "subject": "Approval requested: {{ entry.record_title }}",
     "body": "{{ entry.sender }} asks you to approve {{ entry.record_title }} (amount {{ entry.amount|money }} "
             "{{ entry.currency_code or 'USD' }}{% if entry.due_date %}, due {{ entry.due_date }}{% endif %}). Open it: {{ link }}"},
    {"code": "approval_rejected", "type": "Approval", "description": "The sender's request was rejected",
     "subject": "Rejected: {{ entry.record_title }}",
     "body": "Your approval request for {{ entry.record_title }} was rejected.{% if message %} Comment: {{ message }}{% endif %}"},
    {"code": "approval_canceled", "type": "Approval", "description": "An approval request was canceled",
     "subject": "Canceled: {{ entry.record_title }}", "body": "The approval request for {{ entry.record_title }} was canceled."},
    {"code": "approval_delegated", "type": "Approval", "description": "The sender's request was delegated to another approver",
     "subject": "Delegated: {{ entry.record_title }}",
     "body": "Your approval request for {{ entry.record_title }} was delegated to {{ entry.approver }}.{% if message %} Comment: {{ message }}{% endif %}"},
    {"code": "approval_overdue", "type": "Overdue", "description": "An approval request is past its due date",
     "subject": "Overdue approval request: {{ entry.record_title }}",
     "body": "The approval request for {{ entry.record_title }}, sent by {{ entry.sender }} to {{ entry.approver }}, was due {{ entry.due_date }} and has not been decided yet."},
    {"code": "workflow_failed", "type": "New Record", "description": "A workflow could not run for a record the recipient acted on",
     "subject": "Workflow failed: {{ record.title or 'a record' }}", "body": "A workflow could not run for {{ record.title }}: {{ message }}"},
    {"code": "workflow_notification", "type": "New Record", "description": "A notification created by a workflow's Create a notification response",
     "subject": "{{ record.title or 'Workflow notification' }}", "body": "{{ message }}"},
    {"code": "job_failed", "type": "Job Queue", "description": "A job queue entry failed after its last attempt and is in Error",
     "subject": "Job failed: {{ message|truncate(120) }}",
     "body": "A job queue entry you own failed and is now in status Error: {{ message }}"},
    {"code": "customer_statement", "type": "New Record", "description": "Statement of a customer's open sales orders",
     "subject": "Statement of open orders — {{ record.name }}",
     "body": "{% for o in open_orders %}{{ o.no }} {{ o.order_date }} {{ o.status }} {{ o.amount|money }}\n{% else %}No open orders.{% endfor %}"},
    {"code": "vendor_blocked", "type": "New Record", "description": "A vendor's contact is told that the vendor is blocked",
     "subject": "Purchases on hold — {{ record.name }}",
     "body": "Further purchases from {{ record.name }} ({{ record.no }}) are on hold.{% if message %} {{ message }}{% endif %}"},
]


def all_defaults() -> list[dict]:
    """Every shipped template as a dict with ``method`` (Email first, then Note)."""
    return [{**t, "method": "Email"} for t in DEFAULT_TEMPLATES] + [{**t, "method": "Note"} for t in DEFAULT_NOTE_TEMPLATES]
