"""The pure v0 signature check, including a property test over random requests."""

from hypothesis import given
from hypothesis import strategies as st

from slackbridge.signature import MAX_AGE_SECONDS, sign, verify

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_767_225_600


def test_slack_documented_example():
    """The worked example from Slack's 'Verifying requests from Slack' guide."""
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
        b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
        b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign(secret=SECRET, timestamp="1531420618", body=body) == expected
    assert verify(secret=SECRET, timestamp="1531420618", signature=expected, body=body, now=1531420618 + 10)


def test_rejections():
    body = b"command=%2Fincidents"
    good = sign(secret=SECRET, timestamp=str(NOW), body=body)
    assert verify(secret=SECRET, timestamp=str(NOW), signature=good, body=body, now=NOW)
    assert not verify(secret="other", timestamp=str(NOW), signature=good, body=body, now=NOW)
    assert not verify(secret=SECRET, timestamp=str(NOW), signature=good, body=body + b"&x=1", now=NOW)
    assert not verify(secret=SECRET, timestamp=str(NOW), signature=good, body=body, now=NOW + MAX_AGE_SECONDS + 1)
    assert not verify(secret=SECRET, timestamp=str(NOW), signature=good, body=body, now=NOW - MAX_AGE_SECONDS - 1)
    assert not verify(secret=SECRET, timestamp=None, signature=good, body=body, now=NOW)
    assert not verify(secret=SECRET, timestamp=str(NOW), signature=None, body=body, now=NOW)
    assert not verify(secret=SECRET, timestamp=f" {NOW}", signature=good, body=body, now=NOW)
    assert not verify(secret=SECRET, timestamp="１２３", signature=good, body=body, now=NOW)
    assert not verify(secret="", timestamp=str(NOW), signature=sign(secret="", timestamp=NOW, body=body), body=body)


@given(
    body=st.binary(max_size=300),
    age=st.integers(min_value=-10_000, max_value=10_000),
    secret=st.sampled_from([SECRET, "wrong-secret"]),
    tamper=st.sampled_from(["none", "signature", "body", "timestamp"]),
    garbage=st.text(max_size=80),
)
def test_only_correctly_signed_fresh_requests_verify(body, age, secret, tamper, garbage):
    timestamp = str(NOW - age)
    signature = sign(secret=secret, timestamp=timestamp, body=body)
    sent_body, sent_timestamp = body, timestamp
    if tamper == "signature":
        signature = garbage
    elif tamper == "body":
        sent_body = body + b"!"
    elif tamper == "timestamp":
        sent_timestamp = str(NOW - age + 1)
    ok = verify(secret=SECRET, timestamp=sent_timestamp, signature=signature, body=sent_body, now=NOW)
    expected_signature = sign(secret=SECRET, timestamp=sent_timestamp, body=sent_body)
    fresh = abs(NOW - int(sent_timestamp)) <= MAX_AGE_SECONDS
    assert ok == (fresh and signature == expected_signature)
    assert not ok or (secret == SECRET and tamper == "none" and abs(age) <= MAX_AGE_SECONDS)
