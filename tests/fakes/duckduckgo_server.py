"""A fake DuckDuckGo on 127.0.0.1: its three keyless endpoints, as served today.

- `POST /html/` (html.duckduckgo.com): the HTML results page, form fields `q`, `kl`,
  `kp`, `df`, `s`, `dc`. Page one shows an ad, then 10 hits; a page from offset `s`
  shows 15. Links go through DuckDuckGo's `//duckduckgo.com/l/?uddg=` redirect
  (result 3 links directly), titles and snippets carry `<b>` marks and entities, and
  results 2 and 5 show a date. Query `nothing` gets the no-results card, `blocked`
  the 202 bot check ("anomaly") page.
- `GET /?q=..&format=json` (api.duckduckgo.com): instant answers: an abstract, one
  official link, related topics and a named group of nested topics (7 results in all);
  query `2+2` gets a direct `Answer`.
- `GET /ac/?q=..` (duckduckgo.com): suggestions, `[{"phrase": ..}, ...]`.

Query `fail`, `limit`, `garbled` and `slow`, and `down`, as in
tests/fakes/search_servers.py.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from aiohttp import web

from tests.fakes.search_servers import FakeSearchEngine, Json, hit

PAGE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="content-type" content="text/html; charset=UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0, maximum-scale=3.0, user-scalable=1" />
<meta name="referrer" content="origin" />
<meta name="robots" content="noindex, nofollow" />
<title>{q} at DuckDuckGo</title>
<link rel="stylesheet" href="//duckduckgo.com/dist/h.aa3d4f2ac.css" type="text/css" />
</head>
<body class="body--html">
  <a name="top" id="top"></a>
  <form action="/html/" method="post"><input type="text" name="state_hidden" id="state_hidden" /></form>
  <div>
    <div class="site-wrapper-border"></div>
    <div id="header" class="header cw header--html">
      <a title="DuckDuckGo" href="/html/" class="header__logo-wrap"><span class="header__logo">DuckDuckGo</span></a>
      <form name="x" class="header__form" action="/html/" method="post">
        <div class="search search--header">
          <input name="q" autocomplete="off" class="search__input" id="search_form_input_homepage" type="text" value="{q}" />
          <input name="b" id="search_button_homepage" class="search__button search__button--html" value="" title="Search" alt="Search" type="submit" />
        </div>
        <div class="frm__select"><select name="kl"><option value="" >All Regions</option><option value="us-en">US (English)</option></select></div>
      </form>
    </div>
    <div>
    <div class="serp__results">
    <div id="links" class="results">
{cards}
    </div>
    </div>
    </div>
  </div>
  <div id="bottom_spacing2"> </div>
  <img src="//duckduckgo.com/t/sl_h"/>
</body>
</html>
"""

AD = """
        <div class="result results_links results_links_deep result--ad  result--ad--small">
          <div class="links_main links_deep result__body">
            <h2 class="result__title">
              <a rel="nofollow" class="result__a" href="https://duckduckgo.com/y.js?ad_domain=shop.example&amp;ad_provider=bingv7aa&amp;ad_type=txad&amp;u3=x">Buy {q} today</a>
            </h2>
            <div class="result__extras"><div class="result__extras__url"><a class="result__url" href="https://duckduckgo.com/y.js?ad_domain=shop.example">shop.example</a><span class="badge--ad">Ad</span></div></div>
            <a class="result__snippet" href="https://duckduckgo.com/y.js?ad_domain=shop.example">Sponsored: the best {q} deals.</a>
            <div class="clear"></div>
          </div>
        </div>"""

CARD = """
        <div class="result results_links results_links_deep web-result ">
          <div class="links_main links_deep result__body"> <!-- This is the visible part -->
          <h2 class="result__title">
            <a rel="nofollow" class="result__a" href="{href}">{title}</a>
          </h2>
      <div class="result__extras">
        <div class="result__extras__url">
          <span class="result__icon">
            <a rel="nofollow" href="{href}">
              <img class="result__icon__img" width="16" height="16" alt="" src="//external-content.duckduckgo.com/ip3/ddg.example.ico" name="i15" />
            </a>
          </span>
          <a class="result__url" href="{href}">
                  {display}
          </a>{date}
        </div>
      </div>
          <a class="result__snippet" href="{href}">{snippet}</a>
            <div class="clear"></div>
          </div>
        </div>"""

NO_RESULTS = """
        <div class="result results_links results_links_deep result--no-result">
          <div class="no-results">No  results.</div>
        </div>"""

NEXT = """
        <div class="nav-link">
        <form action="/html/" method="post">
          <input type="submit" class='btn btn--alt' value="Next" />
          <input type="hidden" name="q" value="{q}" />
          <input type="hidden" name="s" value="{s}" />
          <input type="hidden" name="nextParams" value="" />
          <input type="hidden" name="v" value="l" />
          <input type="hidden" name="o" value="json" />
          <input type="hidden" name="dc" value="{dc}" />
          <input type="hidden" name="api" value="d.js" />
          <input type="hidden" name="vqd" value="4-211094038431427853702135547390717488042" />
        </form>
        </div>"""

CHALLENGE = """<!DOCTYPE html><html lang="en-US"><head><title>DuckDuckGo</title></head><body>
<div class="anomaly-modal__mask"><div class="anomaly-modal__modal" data-testid="anomaly-modal">
<div class="anomaly-modal__title">Unfortunately, bots use DuckDuckGo too.</div>
<div class="anomaly-modal__description">Please complete the following challenge to confirm this search was made by a human.</div>
<form id="challenge-form" action="//duckduckgo.com/anomaly.js?sv=html&amp;cc=botnet" method="POST"></form>
</div></div></body></html>"""


def _card(query: str, n: int) -> str:
    found = hit("ddg", query, n)
    url = found["url"]
    href = url if n == 3 else f"//duckduckgo.com/l/?uddg={quote(url, safe='')}&amp;rut=9f{n}c0ffee"
    date = (
        f"\n          <span>&nbsp; &nbsp; 2024-05-0{n}T00:00:00.0000000</span>"
        if n in (2, 5)
        else ""
    )
    return CARD.format(
        href=href,
        title=escape(found["title"]),
        display=escape(url.removeprefix("https://")),
        date=date,
        snippet=f"Snippet {n} about <b>{escape(query)}</b> &amp; friends.",
    )


def _topic(query: str, n: int) -> Json:
    found = hit("ddg", query, n)
    text = f"{found['title']} - {found['snippet']}"
    icon = {"URL": f"/i/{n}.png", "Height": "", "Width": ""}
    return {"FirstURL": found["url"], "Text": text, "Result": text, "Icon": icon}


class FakeDuckDuckGo(FakeSearchEngine):
    def setup(self, app: web.Application) -> None:
        app.router.add_post("/html/", self.page)
        app.router.add_get("/", self.answers)
        app.router.add_get("/ac/", self.suggestions)

    async def page(self, request: web.Request) -> web.Response:
        form = await request.post()
        query = str(form.get("q", ""))
        trouble = await self.trouble(query)
        if trouble is not None:
            return trouble
        if query == "blocked":
            return web.Response(text=CHALLENGE, status=202, content_type="text/html")
        offset = int(str(form.get("s", "0")))
        numbers = range(offset + 1, offset + (15 if offset else 10) + 1)
        if query == "nothing":
            cards = NO_RESULTS
        else:
            cards = AD.format(q=escape(query)) + "".join(_card(query, n) for n in numbers)
            nxt = offset + (15 if offset else 10)
            cards += NEXT.format(q=escape(query), s=nxt, dc=nxt + 1)
        return web.Response(
            text=PAGE.format(q=escape(query), cards=cards), content_type="text/html"
        )

    async def answers(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        trouble = await self.trouble(query)
        if trouble is not None:
            return trouble
        abstract = hit("ddg", query, 1)
        official = {
            "FirstURL": f"https://{quote(query)}.example/",
            "Text": "Official site",
            "Result": "Official site",
            "Icon": {"URL": "", "Height": 16, "Width": 16},
        }
        group = {"Name": "See also", "Topics": [_topic(query, n) for n in (5, 6, 7)]}
        body = {
            "Abstract": abstract["snippet"],
            "AbstractText": abstract["snippet"],
            "AbstractSource": "Wikipedia",
            "AbstractURL": abstract["url"],
            "Answer": "2 + 2 = 4" if query == "2+2" else "",
            "AnswerType": "calc" if query == "2+2" else "",
            "Heading": abstract["title"],
            "Definition": "",
            "Image": "/i/abstract.png",
            "Redirect": "",
            "Type": "A",
            "Results": [official],
            "RelatedTopics": [_topic(query, n) for n in (2, 3, 4)] + [group],
        }
        # The real API labels its JSON application/x-javascript.
        return web.json_response(body, content_type="application/x-javascript")

    async def suggestions(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        trouble = await self.trouble(query)
        if trouble is not None:
            return trouble
        phrases = [{"phrase": f"{query} {word}"} for word in ("tutorial", "download", "docs")]
        return web.json_response(phrases)
