"""Bot and link-preview detection on real user-agent strings."""

import pytest

from sms_marketing.core.useragent import is_bot

# In-app browsers: a person reading the page inside LINE or Viber.
LINE_IN_APP = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Safari Line/15.12.1"
)
VIBER_IN_APP = (
    "Mozilla/5.0 (Linux; Android 7.1.2; G011A Build/N2G48H; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/66.0.3359.158 Safari/537.36 Viber/11.9.5.8"
)

BOTS = [
    # Link-preview fetchers of messaging apps and social networks.
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
    "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack-ImgProxy (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0 A",
    "whatsapp/2.2123.8 n",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 "
    "skype-url-preview@microsoft.com",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/96.0.4664.110 Safari/537.36 Edg/96.0.1054.62 MicrosoftPreview/2.0 "
    "+https://aka.ms/MicrosoftPreview",
    "Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots",
    "Viber/20.9.0.8 CFNetwork/1410.0.3 Darwin/22.6.0",
    "Line/1.0 (compatible; Line-Crawler; +https://help.line.me/)",
    "Mozilla/5.0 (compatible; linespider/1.1; +https://lin.ee/4dwxkth)",
    "Pinterest/0.2 (+https://www.pinterest.com/bot.html)",
    "Mozilla/5.0 (compatible; Pinterestbot/1.0; +https://www.pinterest.com/bot.html)",
    "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
    "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
    "Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)",
    "Iframely/1.3.1 (+https://iframely.com/docs/about) Atlassian",
    # Search engines.
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 7.0; SM-G930V Build/NRD90M) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/59.0.3071.125 Mobile Safari/537.36 "
    "(compatible; Google-Read-Aloud; +https://support.google.com/webmasters/answer/1061943)",
    "Mozilla/5.0 (compatible; Google-InspectionTool/1.0)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    "Sogou-Test-Spider/4.0 (compatible; MSIE 5.5; Windows 98)",
    "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.1 (KHTML, like Gecko) Chrome/21.0.1180.89 "
    "Safari/537.1; 360Spider",
    "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/70.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile "
    "Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/69.0.3497.81 YisouSpider/5.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
    "ia_archiver (+http://www.alexa.com/site/help/webmasters; crawler@alexa.com)",
    # Validators, monitors, scanners, scripts and HTTP libraries.
    "W3C_Validator/1.3 http://validator.w3.org/services",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "LogicMonitor SiteMonitor/1.0",
    "Mozilla/5.0 (compatible; Nimbostratus-Bot/v1.3.2; http://cloudsystemnetworks.com)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/71.0.3578.98 Safari/537.36 jsjcw_scanner",
    "FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "curl/8.4.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Python-urllib/3.11",
    "Go-http-client/1.1",
    "Java/17.0.2",
    "okhttp/4.12.0",
    "libwww-perl/6.72",
    "Apache-HttpClient/4.5.14 (Java/17.0.8)",
]

HUMANS = [
    # iPhone Safari.
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    # Android Chrome (reduced user agent).
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    # Samsung Internet.
    "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    # WeChat in-app browser, Android and iOS.
    "Mozilla/5.0 (Linux; Android 7.0; FRD-AL00 Build/HUAWEIFRD-AL00; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/53.0.2785.49 Mobile MQQBrowser/6.2 TBS/043602 "
    "Safari/537.36 MicroMessenger/6.5.16.1120 NetType/WIFI Language/zh_CN",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI "
    "Language/zh_CN",
    # Alipay.
    "Mozilla/5.0 (Linux; U; Android 10; zh-CN; ELE-AL00 Build/HUAWEIELE-AL00) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.22.0.36 "
    "Mobile Safari/537.36 AlipayChannelId/5136 UCBS/3.22.0.36_200814174021 "
    "NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:360|0|3.0) AliApp(AP/10.1.95.6000) "
    "AlipayClient/10.1.95.6000 Language/zh-Hans useStatusBar/true isConcaveScreen/true "
    "Region/CN",
    # Huawei Browser.
    "Mozilla/5.0 (Linux; Android 10; HarmonyOS; ELS-AN00; HMSCore 6.1.0.305) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/92.0.4515.105 HuaweiBrowser/12.0.1.300 "
    "Mobile Safari/537.36",
    # Firefox desktop and Android.
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
    # Edge desktop.
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    # Cubot phone: "bot" inside the brand name.
    "Mozilla/5.0 (Linux; Android 8.0.0; CUBOT_P20) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/70.0.3538.110 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 6.0; CUBOT MAX) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/72.0.3626.121 Mobile Safari/537.36",
    # In-app browsers of apps whose preview fetchers are bots.
    LINE_IN_APP,
    VIBER_IN_APP,
    "Mozilla/5.0 (Linux; Android 9; STF-L09 Build/HUAWEISTF-L09; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/79.0.3945.79 Mobile Safari/537.36 [Pinterest/Android]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 14_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/14.1.1 Mobile/15E148 Snapchat/11.36.0.36 (like Safari/604.1)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_3_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone11,8;FBMD/iPhone;FBSN/iOS;"
    "FBSV/13.3.1;FBSS/2;FBID/phone;FBLC/en_US;FBOP/5;FBCR/]",
    # Other common Chinese browsers.
    "Mozilla/5.0 (Linux; Android 9; NX569J Build/PQ3A.190505.002; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/68.0.3440.106 Mobile Safari/537.36 AWP/2.0 "
    "SogouMSE,SogouMobileBrowser/5.21.8",
    "Mozilla/5.0 (Linux; U; Android 9; pl-pl; Redmi Note 7 Build/PKQ1.180904.001) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/71.0.3578.141 "
    "Mobile Safari/537.36 XiaoMi/MiuiBrowser/11.4.3-g",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 9_3_4 like Mac OS X) AppleWebKit/601.1.46 "
    "(KHTML, like Gecko) Mobile/13G35 QQ/6.5.3.410 V1_IPH_SQ_6.5.3_1_APP_A Pixel/750 "
    "Core/UIWebView NetType/2G Mem/117",
    # The CamScanner app's WebView ("scanner" inside the app name).
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.123 Mobile Safari/537.36 "
    "CamScanner/4.8.5.2310271827",
]


@pytest.mark.parametrize("user_agent", BOTS)
def test_bots(user_agent):
    assert is_bot(user_agent)


@pytest.mark.parametrize("user_agent", HUMANS)
def test_humans(user_agent):
    assert not is_bot(user_agent)
    assert not is_bot(user_agent, "GET")
    assert not is_bot(user_agent, "post")


@pytest.mark.parametrize("user_agent", [None, "", "   ", "\t\n"])
def test_missing_user_agent_is_a_bot(user_agent):
    assert is_bot(user_agent)


@pytest.mark.parametrize("method", ["HEAD", "head", " Head "])
def test_head_requests_are_bots(method):
    assert is_bot(HUMANS[0], method)


def test_case_insensitive():
    assert is_bot("MOZILLA/5.0 (COMPATIBLE; GOOGLEBOT/2.1)")
    assert is_bot("mozilla/5.0 (compatible; googlebot/2.1)")
    assert is_bot("FACEBOOKEXTERNALHIT/1.1")
    assert is_bot("CURL/8.0")


def test_line_and_viber_only_when_fetcher():
    # The in-app browsers append Line/ or Viber/ to a browser user agent;
    # the preview fetchers start with them.
    assert is_bot("Line/1.0")
    assert is_bot("Viber/12.8.0.1 CFNetwork/1121.2.2 Darwin/19.3.0")
    assert not is_bot(LINE_IN_APP)
    assert not is_bot(VIBER_IN_APP)
