"""`python -m twilio_sim --port 8765 --account-sid AC... --auth-token ...`; see README.md."""

import argparse
import os

from twilio_sim.outcomes import OUTCOMES, RULES, parse_mix
from twilio_sim.server import Simulator

DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "simulator-auth-token"


def number_rule(text):
    number, _, outcome = text.partition("=")
    if outcome not in OUTCOMES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use +NUMBER=OUTCOME with OUTCOME one of {', '.join(OUTCOMES)}"
        )
    return number, outcome


def mix(text):
    try:
        return parse_mix(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser():
    rules = ", ".join(f"...{digits}={outcome}" for digits, outcome in RULES.items())
    result = argparse.ArgumentParser(
        prog="python -m twilio_sim",
        description=(
            "A local Twilio: the Calls REST API (/2010-04-01/Accounts/{AccountSid}/Calls.json) "
            "with signed status callbacks and answer-URL requests, plus a control API under /_sim/ "
            "(see twilio_sim/README.md). "
            f"Outcomes by the last four digits of To: {rules}; anything else completes "
            "(or draws from --mix). Times are simulated seconds unless noted."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = result.add_argument
    add("--host", default="127.0.0.1", help="interface to listen on")
    add("--port", type=int, default=8765, help="port to listen on (0 picks a free one)")
    add(
        "--account-sid",
        default=os.environ.get("TWILIO_ACCOUNT_SID", DEV_ACCOUNT_SID),
        help="accepted AccountSid (env TWILIO_ACCOUNT_SID)",
    )
    add(
        "--auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN", DEV_AUTH_TOKEN),
        help="accepted auth token, also signs callbacks (env TWILIO_AUTH_TOKEN)",
    )
    add(
        "--cps",
        type=float,
        default=10.0,
        help="calls per second leaving the queue (real Twilio: 1 by default)",
    )
    add("--list-delay", type=float, default=2.0, help="seconds before a new call shows in the list")
    add(
        "--ring-seconds", type=float, default=1.5, help="ring time before answer, busy or no-answer"
    )
    add("--call-seconds", type=float, default=3.0, help="length of an answered call")
    add(
        "--short-call-seconds",
        type=float,
        default=1.0,
        help="length of a short-call (callee hangs up quickly)",
    )
    add(
        "--amd-seconds",
        type=float,
        default=1.0,
        help="answering-machine detection time after answer, before the AsyncAmd callback",
    )
    add(
        "--machine-seconds",
        type=float,
        default=20.0,
        help="how long an answering machine records before hanging up by itself",
    )
    add(
        "--update-play-seconds",
        type=float,
        default=1.0,
        help="how long TwiML sent by a call update plays before its <Hangup/> ends the call",
    )
    add(
        "--price-delay-seconds",
        type=float,
        default=1.0,
        help="how long after a call ends its Call resource reports a price (null until then)",
    )
    add(
        "--price-per-minute",
        type=float,
        default=0.013,
        help="what each started minute of a completed call costs (USD)",
    )
    add("--speed", type=float, default=1.0, help="clock speed: 10 runs everything 10x faster")
    add(
        "--clock",
        choices=("real", "manual"),
        default="real",
        help="manual: time moves only on POST /_sim/clock",
    )
    add(
        "--mix",
        type=mix,
        default={},
        help=(
            "seeded random outcomes for numbers without a rule, "
            "e.g. completed=0.6,busy=0.2,no-answer=0.15,failed=0.05"
        ),
    )
    add("--seed", type=int, default=0, help="seed for --mix and for fault probabilities")
    add(
        "--number",
        type=number_rule,
        action="append",
        default=[],
        metavar="+NUMBER=OUTCOME",
        help=f"outcome rule for one number (repeatable); outcomes: {', '.join(OUTCOMES)}",
    )
    add(
        "--duplicate-callbacks",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that a callback is sent twice",
    )
    add(
        "--drop-callbacks",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that a callback is never sent",
    )
    add(
        "--drop-terminal-callback",
        action="store_true",
        help="never send the terminal (completed/busy/...) callback",
    )
    add(
        "--reorder-callbacks",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that a call's callbacks arrive terminal first, then the earlier ones",
    )
    add(
        "--create-429",
        type=int,
        default=0,
        metavar="N",
        help="the next N creates answer 429 (code 20429), not placed",
    )
    add(
        "--retry-after",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a 429 carries Retry-After: SECONDS (0: no header)",
    )
    add(
        "--create-500",
        type=int,
        default=0,
        metavar="N",
        help="the next N creates answer 500 (code 20500), not placed",
    )
    add(
        "--create-500-placed",
        type=int,
        default=0,
        metavar="N",
        help="the next N creates answer 500 although the call was placed",
    )
    add(
        "--create-hang",
        type=int,
        default=0,
        metavar="N",
        help="the next N creates wait --hang-seconds before answering",
    )
    add(
        "--hang-seconds",
        type=float,
        default=15.0,
        help="how long a hanging create waits (real seconds, not scaled)",
    )
    add(
        "--hang-drops-call",
        action="store_true",
        help="a hanging create places no call and answers 500 (default: placed, answers 201 late)",
    )
    add(
        "--callback-timeout",
        type=float,
        default=5.0,
        help="timeout of each callback request (real seconds)",
    )
    add("--verbose", action="store_true", help="log every HTTP request")
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    simulator = Simulator(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
        cps=args.cps,
        list_delay=args.list_delay,
        ring_seconds=args.ring_seconds,
        call_seconds=args.call_seconds,
        short_call_seconds=args.short_call_seconds,
        amd_seconds=args.amd_seconds,
        machine_seconds=args.machine_seconds,
        update_play_seconds=args.update_play_seconds,
        price_delay_seconds=args.price_delay_seconds,
        price_per_minute=args.price_per_minute,
        speed=args.speed,
        clock=args.clock,
        mix=args.mix,
        seed=args.seed,
        numbers={number: {"outcome": outcome} for number, outcome in args.number},
        duplicate_callbacks=args.duplicate_callbacks,
        drop_callbacks=args.drop_callbacks,
        drop_terminal_callback=args.drop_terminal_callback,
        reorder_callbacks=args.reorder_callbacks,
        create_429=args.create_429,
        retry_after=args.retry_after,
        create_500=args.create_500,
        create_500_placed=args.create_500_placed,
        create_hang=args.create_hang,
        hang_seconds=args.hang_seconds,
        hang_places_call=not args.hang_drops_call,
        callback_timeout=args.callback_timeout,
    )
    print(f"twilio_sim listening on {simulator.base_url} (account {args.account_sid})", flush=True)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
