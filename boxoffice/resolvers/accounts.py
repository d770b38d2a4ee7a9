from __future__ import annotations

from ..booking.accounts import sign_in as accounts
from ..booking.records import UserRecord
from ..schema.booking_types import AuthPayload, User
from ..schema.catalog_types import Info
from ..schema.inputs import SignUpInput
from ..schema.results import AuthResult
from .problems import attempt


async def sign_up(info: Info, input: SignUpInput) -> AuthResult:
    ctx = info.context

    async def call() -> UserRecord:
        await ctx.services.limits.check_sign_up(ctx.client_address)
        return await accounts.create_user(ctx.engine, email=input.email, password=input.password, name=input.name)

    return await attempt(call, lambda u: AuthPayload(token=ctx.services.tokens.issue(u), user=User(record=u)))


async def log_in(info: Info, email: str, password: str) -> AuthResult:
    ctx = info.context

    async def call() -> UserRecord:
        async with ctx.services.limits.log_in_attempt(ctx.client_address, email):
            return await accounts.authenticate(ctx.engine, email=email, password=password)

    return await attempt(call, lambda u: AuthPayload(token=ctx.services.tokens.issue(u), user=User(record=u)))


async def viewer(info: Info) -> User | None:
    v = info.context.viewer
    if v is None:
        return None
    user = await info.context.loaders.users.load(v.user_id)
    return User(record=user) if user else None




async def log_out(info: Info) -> bool:
    """Every token of the caller stops working (this one included) and their subscriptions close.
    An anonymous caller has no session to end: false."""
    ctx = info.context
    if ctx.viewer is None:
        return False
    version = await accounts.end_sessions(ctx.engine, ctx.viewer.user_id)
    await ctx.services.sessions.ended(ctx.viewer.user_id, version)
    return True
