"""Tell human clicks on SMS links from crawlers and link-preview fetchers.

A tracked link in an SMS is fetched by more than the person who taps it:
messaging apps and social networks download the page to draw a preview
(iMessage sends ``facebookexternalhit``/``Twitterbot``, WhatsApp
``WhatsApp/2.x``, LINE ``Line/1.0 (compatible; Line-Crawler...)``), search
engines follow links they find, and monitoring tools and scripts probe
them. Counting those as clicks inflates click rates and can pick the wrong
A/B winner, so :func:`is_bot` flags them from the ``User-Agent`` header.

A request counts as a bot when:

* the user agent is missing or blank (browsers always send one);
* the method is ``HEAD`` (link checkers and unfurlers probe with it, a
  browser following a link never does);
* the user agent matches one precompiled regular expression (searched in
  the lower-cased user agent, so matching is case-insensitive) made of
  generic tokens (``bot``, ``crawl``, ``spider``, ``slurp``, ``preview``,
  ``fetcher``, ``scanner``, ``monitor``, HTTP libraries and command-line
  clients, ``headless``) and named crawlers and preview fetchers
  (Facebook, X/Twitter, Slack, WhatsApp, Telegram, Discord, LinkedIn,
  Skype/Teams, Apple, Google, Bing, Yandex, Baidu, Sogou, 360, ByteDance,
  Huawei Petal, Shenma/Yisou, Pinterest, Reddit, Embedly, VK, the W3C
  validator, Iframely, Snapchat, Viber, LINE, KakaoTalk).

The tokens are those of the crawlers' published user agents (Google, Bing,
Apple, Meta, X, Slack, LINE and others). They were checked against the
fixtures of the ``isbot`` project (github.com/omrilotan/isbot), whose lists
of real browser user agents serve as the false-positive test. Some tokens
are narrowed so that the in-app browsers real people use are not flagged:

* ``bot`` must end a word (``Googlebot/2.1``, ``Slackbot-LinkExpanding``,
  ``+http://www.google.com/bot.html``) and must not be the phone brand
  Cubot (``CUBOT_P20``), following ``isbot``.
* ``scanner`` is not the CamScanner app's WebView.
* LINE and Viber are flagged only when the user agent *starts* with
  ``Line/`` or ``Viber/`` (their preview fetchers); their in-app browsers
  append ``Line/15.12.1`` or ``Viber/11.9.5.8`` to an ordinary WebView user
  agent and are people.
* Pinterest's crawler is ``Pinterest/0.x`` or ``Pinterestbot``; the app's
  browser says ``[Pinterest/iOS]``.
* Sogou's spiders are ``Sogou web spider``, ``Sogou-Test-Spider`` and so on;
  ``SogouMobileBrowser`` is a browser.
* WeChat (``MicroMessenger``), Alipay, Facebook/Instagram/Snapchat in-app
  browsers and the Slack/Discord desktop apps are real browsers and are
  not matched.

User agents can be forged; this is a filter for honest automated traffic,
not a defence against fraud.
"""

from __future__ import annotations

import re

__all__ = ["is_bot"]

# Generic tokens: crawlers, fetchers, monitoring, scripts and HTTP libraries.
_GENERIC = (
    r"(?<!cu)bots?(?:\b|_)",  # Googlebot/, bingbot/, Slackbot-, bot.html; not CUBOT phones
    r"crawl",
    r"spider",
    r"slurp",
    r"preview",
    r"fetcher",
    r"(?<!cam)scanner",  # not the CamScanner app's WebView
    r"monitor",
    r"\bcurl\b",
    r"\bwget\b",
    r"python-requests",
    r"python-urllib",
    r"go-http-client",
    r"java/",
    r"okhttp",
    r"libwww",
    r"httpclient",
    r"headless",
)

# Named crawlers and link-preview fetchers (some are also caught by a generic
# token; they are listed so that narrowing a generic token cannot lose them).
_NAMED = (
    r"facebookexternalhit",
    r"facebot",
    r"twitterbot",
    r"slackbot",
    r"slack-imgproxy",
    r"whatsapp",
    r"telegrambot",
    r"discordbot",
    r"linkedinbot",
    r"skypeuripreview",
    r"applebot",
    r"googlebot",
    r"google-read-aloud",
    r"google-inspectiontool",
    r"googleother",
    r"mediapartners-google",
    r"bingbot",
    r"bingpreview",
    r"yandexbot",
    r"baiduspider",
    r"sogou[ -]",  # Sogou web/inst/pic spiders; not SogouMobileBrowser
    r"360spider",
    r"bytespider",
    r"petalbot",
    r"yisouspider",
    r"pinterest/0\.",  # the crawler; the app's browser says [Pinterest/iOS]
    r"pinterestbot",
    r"redditbot",
    r"embedly",
    r"vkshare",
    r"w3c_validator",
    r"microsoftpreview",
    r"iframely",
    r"snap url preview",
    r"kakaotalk-scrap",
    r"ia_archiver",
    r"^viber/",  # preview fetcher; the in-app browser only appends Viber/x.y
    r"^line/",  # Line-Crawler; the in-app browser only appends Line/x.y
)

# One pattern, searched in the lower-cased user agent: case-insensitive, and about
# four times faster than re.IGNORECASE on a 60-branch alternation (~20 us per call).
_BOT_PATTERN = re.compile("|".join(_GENERIC + _NAMED))


def is_bot(user_agent: str | None, method: str = "GET") -> bool:
    """Return whether a request to a tracked link comes from software, not a person.

    Input: the ``User-Agent`` header (``None`` when absent) and the HTTP
    method.
    Output: ``True`` for a missing or blank user agent, a ``HEAD`` request
    or a user agent containing one of the tokens (case-insensitive);
    ``False`` otherwise.
    """
    if method and method.strip().upper() == "HEAD":
        return True
    if not user_agent or not user_agent.strip():
        return True
    return _BOT_PATTERN.search(user_agent.strip().lower()) is not None
