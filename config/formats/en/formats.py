"""Dates and times as the admin shows them: with seconds and the zone named, in the operator's
zone, so a call's trail lines up with Twilio's console and with other operators' notes."""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
