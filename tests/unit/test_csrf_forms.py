"""Every POST form a console page renders carries the session's CSRF token; GET forms and
other markup are left alone, and the token is escaped."""

from __future__ import annotations

from tocsin.web.console.pages import with_csrf


def test_every_post_form_gets_the_token_first() -> None:
    html = (
        '<form method="post" action="/console/logout" class="inline"><button>Sign out</button>'
        '</form><form method="get" action="/console"><input name="q"></form>'
        '<FORM class="x" METHOD="POST" action="/console/incidents"></FORM>'
    )
    out = with_csrf(html, "tok")
    field = '<input type="hidden" name="csrf_token" value="tok">'
    assert out.count(field) == 2
    assert f'class="inline">{field}<button>' in out
    assert '<form method="get" action="/console"><input name="q">' in out


def test_the_token_is_escaped() -> None:
    out = with_csrf('<form method="post">', '"><script>')
    assert "<script>" not in out and "&#34;&gt;&lt;script&gt;" in out
