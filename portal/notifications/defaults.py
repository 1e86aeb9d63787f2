"""The notification templates every portal starts with (editable afterwards)."""
from __future__ import annotations

DEFAULT_TEMPLATES = [
    {
        "code": "approval_request",
        "type": "Approval",
        "description": "An approval request waits for the recipient",
        "subject": "Approval requested: {{ entry.record_title }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>{{ entry.sender }} asks you to approve <strong>{{ entry.record_title }}</strong>
(amount {{ entry.amount|money }} {{ entry.currency_code or 'USD' }}{% if entry.due_date %}, due {{ entry.due_date }}{% endif %}).</p>
<p><a href="{{ link }}">Open the request</a> or go to Requests to Approve: <a href="{{ requests_link }}">{{ requests_link }}</a></p>""",
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
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>Your approval request for <strong>{{ entry.record_title }}</strong> was rejected.</p>
{% if message %}<p>Comment: {{ message }}</p>{% endif %}
<p><a href="{{ link }}">Open the record</a></p>""",
    },
    {
        "code": "approval_canceled",
        "type": "Approval",
        "description": "An approval request was canceled",
        "subject": "Canceled: {{ entry.record_title }}",
        "body": """<p>The approval request for <strong>{{ entry.record_title }}</strong> was canceled.</p>
<p><a href="{{ link }}">Open the record</a></p>""",
    },
    {
        "code": "approval_delegated",
        "type": "Approval",
        "description": "The sender's request was delegated to another approver",
        "subject": "Delegated: {{ entry.record_title }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>Your approval request for <strong>{{ entry.record_title }}</strong> was delegated to {{ entry.approver }}.</p>
{% if message %}<p>Comment: {{ message }}</p>{% endif %}
<p><a href="{{ link }}">Open the record</a></p>""",
    },
    {
        "code": "approval_overdue",
        "type": "Overdue",
        "description": "An approval request is past its due date",
        "subject": "Overdue approval request: {{ entry.record_title }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>The approval request for <strong>{{ entry.record_title }}</strong>, sent by {{ entry.sender }}
to {{ entry.approver }}, was due {{ entry.due_date }} and has not been decided yet.</p>
<p><a href="{{ link }}">Open the record</a> or go to Requests to Approve: <a href="{{ requests_link }}">{{ requests_link }}</a></p>""",
    },
    {
        "code": "workflow_failed",
        "type": "New Record",
        "description": "A workflow could not run for a record the recipient acted on",
        "subject": "Workflow failed: {{ record.title or 'a record' }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>A workflow could not run for <strong>{{ record.title }}</strong>:</p>
<p>{{ message }}</p>
<p><a href="{{ link }}">Open the record</a></p>""",
    },
    {
        "code": "workflow_notification",
        "type": "New Record",
        "description": "A notification created by a workflow's Create a notification response",
        "subject": "{{ record.title or 'Workflow notification' }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
{% if message %}<p>{{ message }}</p>{% endif %}
<p><a href="{{ link }}">Open {{ record.title or 'the record' }}</a></p>""",
    },
    {
        "code": "job_failed",
        "type": "Job Queue",
        "description": "A job queue entry failed after its last attempt and is in Error",
        "subject": "Job failed: {{ message|truncate(120) }}",
        "body": """<p>Dear {{ recipient.full_name }},</p>
<p>A job queue entry you own failed and is now in status <strong>Error</strong>:</p>
<p>{{ message }}</p>
<p>It won't run again until it is set to Ready or restarted.
<a href="{{ link }}">Open the job queue entry</a> to see the error and its log entries.</p>""",
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
        "body": """<p>Dear {{ record.contact or record.name }},</p>
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
]
