-- kbal bench `upload`: every request is a POST with a 1 MiB body (the
-- backend answers "len=1048576 crc32=..."). report.lua prints the figures.
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
dofile(os.getenv("KBAL_BENCH_LUA") .. "/report.lua")
