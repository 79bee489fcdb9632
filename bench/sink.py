"""A local SMTP sink for the dispatcher benchmark: accepts everything, counts it.

A minimal asyncio responder rather than a full SMTP server: the benchmark measures the
dispatcher, so the sink should cost as little CPU per message as it can. It answers
EHLO/HELO, AUTH (any login is taken, as a mailbox's server takes its own), MAIL, RCPT,
DATA (to the lone dot), RSET, NOOP and QUIT, one line at a time, and offers PIPELINING
as most servers do (the replies to the commands that came in one
read go out in one write).
"""
import argparse
import asyncio
import signal


class Counter:
    def __init__(self):
        self.count = 0


class SinkProtocol(asyncio.Protocol):
    def __init__(self, counter):
        self.counter = counter
        self.buffer = b""
        self.in_data = False

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data):
        self.buffer += data
        replies = []
        while True:
            if self.in_data:
                # The data ends with a line holding a lone dot.
                if self.buffer.startswith(b".\r\n"):
                    end, skip = 0, 3
                else:
                    end = self.buffer.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    skip = 5
                self.buffer = self.buffer[end + skip:]
                self.in_data = False
                self.counter.count += 1
                replies.append(b"250 OK\r\n")
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                break
            self.buffer = rest
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                               b"250-AUTH PLAIN\r\n250 SMTPUTF8\r\n")
            elif verb == b"AUTH":  # PLAIN with its initial response, in one line
                replies.append(b"235 2.7.0 Authentication successful\r\n")
            elif verb == b"DATA":
                self.in_data = True
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 Bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                replies.append(b"250 OK\r\n")
        if replies:
            self.transport.write(b"".join(replies))


async def serve(port, counter, stop):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(counter), "127.0.0.1", port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count-file", required=True)
    args = parser.parse_args()
    counter = Counter()
    asyncio.run(serve(args.port, counter, asyncio.Event()))
    with open(args.count_file, "w") as fh:
        fh.write(str(counter.count))


if __name__ == "__main__":
    main()
