"""The browser fixtures' own guard: a CSP violation must not pass unnoticed."""


def test_an_inline_style_is_refused_and_recorded(page, live_server):
    page.goto(live_server.url + "/")
    assert page.log.csp_violations() == []

    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        # Evaluated over the DevTools protocol, so the script itself is allowed;
        # the inline <style> it adds is what the policy refuses.
        page.evaluate(
            """() => {
                const style = document.createElement("style");
                style.textContent = "body { background: red; }";
                document.head.append(style);
            }"""
        )

    assert page.log.csp_violations(), page.log.console_errors
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    # The violation was deliberate: clear it so the fixture's teardown passes.
    page.log.console_errors.clear()
