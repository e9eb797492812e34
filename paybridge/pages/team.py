"""`/settings/team`, `/settings/audit` and `/join`. Controls a role cannot use are hidden
(`SessionState.can`); the services refuse them anyway."""

from __future__ import annotations

import reflex as rx

from paybridge.components.forms import (
    dialog_buttons,
    field,
    form_error,
    form_notice,
    password_confirm,
)
from paybridge.components.layout import template
from paybridge.components.secret import secret_once
from paybridge.permissions import ROLE_LABELS, Role
from paybridge.state.session import SessionState
from paybridge.state.team import AuditState, JoinState, TeamState

ROLE_OPTIONS = [(role.value, ROLE_LABELS[role]) for role in Role]


def _role_select(name: str, **props) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.el.select(
        *[rx.el.option(label, value=value) for value, label in ROLE_OPTIONS], name=name, **props
    )


def _invite_form() -> rx.Component:
    return rx.cond(
        SessionState.can["team"],
        rx.form(
            rx.hstack(
                rx.input(
                    name="email",
                    id="invite-email",
                    type="email",
                    placeholder="colleague@company.com",
                    required=True,
                    max_length=254,
                ),
                _role_select("role", id="invite-role", default_value="analyst"),
                rx.button("Invite", type="submit", id="invite-submit"),
                spacing="2",
                wrap="wrap",
                align="center",
            ),
            on_submit=TeamState.invite,
            reset_on_submit=True,
        ),
    )


def _make_owner(m: rx.Var) -> rx.Component:
    """The owner hands the ownership to this member, confirming with their password."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button("Make owner", size="1", variant="soft", class_name="member-make-owner")
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Make ", m["email"], " the owner?"),
            rx.alert_dialog.description(
                "They can then do everything, including changing the team, the bank account and "
                "closing the account. You become an admin, and only they can make you the owner "
                "again.",
                size="2",
            ),
            password_confirm(
                TeamState.transfer_error,
                "transfer-error",
                hidden=rx.el.input(type="hidden", name="member_id", value=m["id"]),
                confirm=rx.button(
                    "Make owner",
                    type="submit",
                    color_scheme="red",
                    class_name="member-make-owner-confirm",
                ),
                on_submit=TeamState.transfer_ownership,
            ),
        ),
    )


def _member_row(m: rx.Var) -> rx.Component:
    controls = rx.hstack(
        rx.el.select(
            *[rx.el.option(label, value=value) for value, label in ROLE_OPTIONS],
            default_value=m["role"],
            key=m["id"].to(str) + m["role"].to(str),
            class_name="member-role",
            on_change=lambda value: TeamState.change_role(m["id"], value),
        ),
        rx.alert_dialog.root(
            rx.alert_dialog.trigger(
                rx.button(
                    "Remove",
                    size="1",
                    color_scheme="red",
                    variant="soft",
                    class_name="member-remove",
                )
            ),
            rx.alert_dialog.content(
                rx.alert_dialog.title("Remove ", m["email"], "?"),
                rx.alert_dialog.description(
                    "They are signed out everywhere at once and can no longer sign in."
                ),
                dialog_buttons(
                    rx.alert_dialog.action(
                        rx.button(
                            "Remove member",
                            color_scheme="red",
                            class_name="member-remove-confirm",
                            on_click=TeamState.remove(m["id"]),
                        )
                    )
                ),
            ),
        ),
        spacing="2",
        align="center",
    )
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(m["name"], weight="medium"),
                rx.text(m["email"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(rx.badge(m["role_label"], class_name="member-role-label")),
        rx.table.cell(m["joined"]),
        # `editable` is this row's facts as loaded; `can` follows a role change at once.
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    (m["editable"] != "")
                    & SessionState.can["team"]
                    & ((m["role"] != Role.OWNER.value) | SessionState.can["team.owners"]),
                    controls,
                ),
                rx.cond(
                    (m["transferable"] != "") & SessionState.can["ownership.transfer"],
                    _make_owner(m),
                ),
                spacing="2",
                align="center",
            )
        ),
        class_name="member-row",
        data_email=m["email"],
    )


@template(route="/settings/team", title="Team", on_load=[TeamState.load])
def team_page() -> rx.Component:
    members = rx.card(
        rx.vstack(
            rx.heading("Members", size="4"),
            rx.text(
                "Owners do everything; admins everything but changing owners; developers manage "
                "API keys and webhooks; analysts read and export.",
                size="2",
                color_scheme="gray",
            ),
            form_error(TeamState.error, "team-error"),
            form_notice(TeamState.notice),
            secret_once(
                TeamState.invite_link,
                message=rx.text(
                    "Send this link to the person you invited. It is shown once, works once "
                    "and expires in 7 days.",
                    weight="bold",
                ),
                on_done=TeamState.dismiss_link,
                test_id="invite-link",
            ),
            _invite_form(),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[rx.table.column_header_cell(h) for h in ("Person", "Role", "Joined", "")]
                    )
                ),
                rx.table.body(rx.foreach(TeamState.members, _member_row), id="members-body"),
                width="100%",
                size="1",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
    invitations = rx.cond(
        SessionState.can["team"],
        rx.card(
            rx.vstack(
                rx.heading("Open invitations", size="4"),
                rx.cond(
                    TeamState.invitations.length() == 0,
                    rx.text("No open invitations.", size="2", color_scheme="gray"),
                ),
                rx.foreach(
                    TeamState.invitations,
                    lambda i: rx.hstack(
                        rx.text(i["email"], size="2", flex="1"),
                        rx.badge(i["role_label"]),
                        rx.text("expires ", i["expires"], size="1", color_scheme="gray"),
                        rx.button(
                            "Revoke",
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            class_name="invitation-revoke",
                            on_click=TeamState.revoke(i["id"]),
                        ),
                        width="100%",
                        align="center",
                        class_name="invitation-row",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
    )
    audit_link = rx.cond(
        SessionState.can["audit_log"],
        rx.link("Audit log: who did what →", href="/settings/audit", size="2"),
    )
    return rx.vstack(members, invitations, audit_link, spacing="4", width="100%")


@template(route="/settings/audit", title="Audit log", on_load=[AuditState.load])
def audit_page() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Audit log", size="4"),
            form_error(AuditState.error, "audit-error"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("When", "Who", "What", "On", "Details", "From")
                        ]
                    )
                ),
                rx.table.body(
                    rx.cond(  # entries already shown go when the role loses the audit log
                        SessionState.can["audit_log"],
                        rx.foreach(
                            AuditState.entries,
                            lambda e: rx.table.row(
                                rx.table.cell(e["when"], white_space="nowrap"),
                                rx.table.cell(e["who"]),
                                rx.table.cell(rx.code(e["action"], size="1")),
                                rx.table.cell(e["target"]),
                                rx.table.cell(rx.text(e["details"], size="1")),
                                rx.table.cell(e["where"]),
                                class_name="audit-row",
                            ),
                        ),
                    ),
                    id="audit-body",
                ),
                width="100%",
                size="1",
            ),
            rx.hstack(
                rx.button(
                    "Newer",
                    size="1",
                    variant="soft",
                    disabled=~AuditState.has_previous,
                    on_click=AuditState.previous_page,
                ),
                rx.button(
                    "Older",
                    size="1",
                    variant="soft",
                    disabled=~AuditState.has_next,
                    on_click=AuditState.next_page,
                ),
                spacing="2",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        overflow_x="auto",
    )


@template(route="/join", title="Join your team", public=True)
def join_page() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Join your team", size="5"),
            rx.text("Set your name and a password to accept the invitation.", size="2"),
            form_error(JoinState.error, "join-error"),
            field("Full name", "full_name", required=True, auto_complete="name"),
            field(
                "Password (12+ characters)",
                "password",
                type="password",
                auto_complete="new-password",
                required=True,
            ),
            field(
                "Confirm password",
                "confirm_password",
                type="password",
                auto_complete="new-password",
                required=True,
            ),
            rx.button("Join", type="submit", id="join-submit", width="100%"),
            spacing="3",
            width="100%",
        ),
        on_submit=JoinState.submit,
        reset_on_submit=False,
    )
