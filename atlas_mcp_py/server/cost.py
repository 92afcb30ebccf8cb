"""Asking the person to approve a cost (elicitation) and the balance line."""

from __future__ import annotations

from typing import Any

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, Elicit
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from atlas_mcp_py.errors import AtlasError, Refused
from atlas_mcp_py.generation import ConfirmFn, balance_text
from atlas_mcp_py.jobs import GenerateArgs, Plan, cost_summary, make_plan
from atlas_mcp_py.server.state import state

__all__ = [
    "CostApproval",
    "CostCheck",
    "approved",
    "ask_cost",
    "ask_image_cost",
    "cost_refusal",
]

MODERN_PROTOCOL = "2026-07-28"


# -- cost confirmation -----------------------------------------------------------------


class CostApproval(BaseModel):
    """What the person is asked before an expensive job."""

    approve: bool = Field(description="Generate it and pay the estimated cost")


class CostCheck(BaseModel):
    """The resolver's answer when it asks nothing."""

    refusal: str | None = None
    """Set when the cost needs confirming but this client cannot ask the person."""


def _can_elicit(ctx: Context[Any, Any]) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, MODERN_PROTOCOL):
        return True  # asked through InputRequiredResult: no back channel needed
    return bool(ctx.session.can_send_request)


async def ask_cost(
    ctx: Context[Any, Any],
    model: str | None,
    prompt: str | None,
    image: str | None,
    end_image: str | None,
    duration: int | None,
    resolution: str | None,
    params: dict[str, Any] | None,
    dry_run: bool,
    confirm_cost: bool,
) -> Elicit[CostApproval] | CostCheck:
    """Resolver: ask the person before a job above ATLAS_MCP_CONFIRM_ABOVE_USD."""
    if dry_run or confirm_cost:
        return CostCheck()
    args = GenerateArgs(model, prompt, image, end_image, duration, resolution, params)
    return await _ask_plan_cost(ctx, args)


async def ask_image_cost(
    ctx: Context[Any, Any],
    model: str | None,
    prompt: str,
    image: str | None,
    params: dict[str, Any] | None,
    dry_run: bool,
    confirm_cost: bool,
) -> Elicit[CostApproval] | CostCheck:
    """Resolver of `atlas_generate_image`: `ask_cost` for an image job."""
    if dry_run or confirm_cost:
        return CostCheck()
    args = GenerateArgs(model, prompt, image, params=params, kind="image")
    return await _ask_plan_cost(ctx, args)


async def _ask_plan_cost(
    ctx: Context[Any, Any], args: GenerateArgs
) -> Elicit[CostApproval] | CostCheck:
    submitter = state(ctx).submitter
    if submitter.settings.confirm_above_usd is None:
        return CostCheck()
    try:
        plan = await make_plan(submitter.client, args, submitter.settings)
    except (Refused, AtlasError):
        return CostCheck()  # the tool body plans again and reports the problem
    cost = cost_summary(submitter.settings, plan)
    if cost is None:
        return CostCheck()
    if not _can_elicit(ctx):
        return CostCheck(
            refusal=(
                f"This job costs {cost}, and this client cannot ask the person to confirm "
                "(it supports no MCP elicitation). Nothing was sent. Ask the person; if "
                "they agree, call again with confirm_cost: true."
            )
        )
    balance = await balance_text(submitter.client)
    available = f" Your Atlas balance: {balance}." if balance else ""
    return Elicit(
        f"Generate {'an image' if plan.kind == 'image' else 'a video'} with {plan.model.id} "
        f"for {cost}?{available} "
        f"Prompt: {plan.body.get('prompt', '')!s:.200}",
        CostApproval,
    )


def cost_refusal(approval: ElicitationResult[Any]) -> str | None:
    """Why an unapproved job stops (nothing has been sent), or None when it may go."""
    if isinstance(approval, AcceptedElicitation):
        data = approval.data
        if isinstance(data, CostCheck):
            return data.refusal
        if isinstance(data, CostApproval) and data.approve:
            return None
        return "The person did not approve the cost, so nothing was sent."
    action = "cancelled" if getattr(approval, "action", "") == "cancel" else "declined"
    return (
        f"The person {action} the cost confirmation, so nothing was sent. Call again only "
        "if they change their mind."
    )


def approved(approval: ElicitationResult[Any]) -> ConfirmFn:
    """The `Hooks.confirm` of a tool call whose cost question was resolved before it ran."""

    async def confirm(plan: Plan) -> str | None:
        return cost_refusal(approval)

    return confirm
