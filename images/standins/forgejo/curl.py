#!/usr/bin/python3
"""STAND-IN for curl in the Forgejo stand-in image (the real image ships curl).

Only what the reconciler's health check and bootstrap steps use: -f -s -S, -o FILE, -X METHOD,
-u USER:PASSWORD, one URL. Exit 22 on HTTP >= 400 with -f, 7 when the connection fails, as curl.
"""

import base64
import sys
import urllib.error
import urllib.request


def main(args: list[str]) -> int:
    method, output, user, url, fail = "GET", None, None, None, False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-o", "-X", "-u"):
            i += 1
            value = args[i]
            if arg == "-o":
                output = value
            elif arg == "-X":
                method = value
            else:
                user = value
        elif arg.startswith("-") and not arg.startswith("--"):
            fail = fail or "f" in arg
        elif not arg.startswith("-"):
            url = arg
        i += 1
    request = urllib.request.Request(url, method=method)  # noqa: S310
    if user:
        request.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as exc:
        if fail:
            print(f"curl: (22) The requested URL returned error: {exc.code}", file=sys.stderr)
            return 22
        body = exc.read()
    except OSError as exc:
        print(f"curl: (7) Failed to connect: {exc}", file=sys.stderr)
        return 7
    if output and output != "/dev/null":
        with open(output, "wb") as fh:
            fh.write(body)
    elif not output:
        sys.stdout.buffer.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
