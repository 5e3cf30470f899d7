namespace ShopAstro.LoadTests;

/// <summary>For each missed target: where the CPU went and what would close it; notes on the machine.</summary>
internal sealed class Diagnosis(RunContext run)
{
    internal string MemoryWhere()
    {
        var bare = run.Report.Figures.FirstOrDefault(f => f.Scenario == "memory" && f.Name.Contains("never written", StringComparison.Ordinal) && f.Unit == "B");
        return $"A never-written subject grain costs {bare?.Value ?? 0:N0} B (the grain object and its persistent-state wrapper, Orleans' activation data, " +
               "message queue and directory entry, the store grain's lease entry); a grant adds the record: one ConsentChoice, one ConsentReceipt " +
               "(a receipt id and two 64-character SHA-256 hex strings of the hash chain, about 400 B of strings) and the immutable dictionary and list nodes holding them. " +
               "The measurement is GC.GetTotalMemory(true) before and after, divided by the count, so a few hundred bytes of it is noise at this count";
    }

    /// <summary>For a missed target: the change that would reach it, as far as this run's figures tell.</summary>
    internal static string WhatWouldCloseIt(Figure f) => f.Scenario switch
    {
        "single check" when f.Name.StartsWith("bytes allocated", StringComparison.Ordinal) =>
            "fewer allocations per request at the edge: the ceiling allocates what Kestrel, routing and the JSON writer need; the rest is the " +
            "edge's own (authentication, the rate limiter's lease, metrics tags, the decision arrays and response records; see the edge profile below).",
        "single check" when f.Name.StartsWith("max latency", StringComparison.Ordinal) =>
            "fewer activations in the window (see below): the slowest checks are those of never-asked subjects queued behind other activations.",
        "single check" =>
            "less per-request work at the edge: what the ceiling does not do (bearer-token authentication and store-scope authorization, " +
            "the per-token rate limiter, metrics, a real response; see the edge's CPU per check and the edge profile below). Subject leases " +
            "run until revoked (docs/coherence.md, L1-L4), so the cluster calls left are first asks of subjects with a record (see the cluster " +
            "calls below), and the pairs' ratios rise as the edge's cache fills over the key space (compare the diagnostic on 1,000 active " +
            "subjects). On two cores wrk itself takes a large share of the CPU at these rates.",
        "durable writes" =>
            "more CPU than two cores shared by PostgreSQL, the silo, the edge and the load generator: each first write costs the edge and the " +
            "silo several times a raw upsert's whole CPU (activation read, store-lease call, write, lease revocation, feed announcement, two " +
            "HTTP/Orleans hops; see CPU per write below), plus PostgreSQL's own share. PostgreSQL on its own cores (as in docker-compose) moves it; taking the " +
            "activation read and the mark-present call away (measured unsafely, load-tests/results/20261206-ab-structural.md) gave 0.33 of " +
            "the ceiling, not 0.40. Writes are committed in groups and activation reads sent in groups (Silo/Storage/" +
            "GroupCommit.cs, GroupRead.cs: one transaction, or one round trip, for many grains).",
        "memory" =>
            "a smaller record in memory. One grant adds about 690 B to a never-written grain: the record, its immutable dictionary and list, the " +
            "choice, and a receipt whose id and SHA-256 hash are kept as text (about 330 B with the receipt object). Receipts are proof, read " +
            "only by exports and by the next append: kept in memory as their serialized bytes (or as a separate state read on demand), with ids " +
            "and hashes as bytes, a grant would add about 250 B, inside the budget; the rest is Orleans' own per-activation data " +
            "(the never-written grain's figure).",
        _ => "see the profile below.",
    };

    internal void Diagnose()
    {
        CpuWindow? Window(string prefix) => run.Report.Cpu.FirstOrDefault(c => c.Scenario.StartsWith(prefix, StringComparison.Ordinal));
        string Split(CpuWindow? window)
        {
            if (window is null)
            {
                return "no CPU sample";
            }

            var u = window.Usage;
            var text = $"machine {u.MachineBusyPercent:0} % of {Environment.ProcessorCount * 100} %: " +
                       string.Join(", ", u.GroupPercent.Where(g => g.Value >= 1).OrderByDescending(g => g.Value).Select(g => $"{g.Key} {g.Value:0} %")) +
                       $", interrupts {u.InterruptPercent:0} %, other work on the machine {u.OtherPercent:0} %";
            if (window.MicrosPerOperation.Count > 0)
            {
                text += $"; CPU per {window.Operation?.TrimEnd('s')}: " +
                        string.Join(", ", window.MicrosPerOperation.OrderByDescending(m => m.Value).Select(m => $"{m.Key} {m.Value:0.#} µs"));
            }

            return text;
        }

        double Micros(CpuWindow? window, string group) => window?.MicrosPerOperation.GetValueOrDefault(group) ?? 0;

        // A silo counter's average over the dotnet-counters run: the series whose tags hold every one given.
        double SiloCounter(string name, params string[] tags) =>
            run.Report.Counters.GetValueOrDefault("silo")?.FirstOrDefault(c => c.Key.StartsWith(name, StringComparison.Ordinal)
                && tags.All(t => t.Split(',').All(part => c.Key.Contains(part, StringComparison.Ordinal)))).Value ?? 0;

        var missed = run.Report.Figures.Where(f => f.Met == false).ToList();
        foreach (var f in missed)
        {
            var where = f.Scenario switch
            {
                "single check" when f.Name.StartsWith("max latency", StringComparison.Ordinal) => Split(Window("open loop 50")),
                "single check" => Split(Window("single check, edge, wrk")),
                "durable writes" => Split(Window("durable writes")),
                "batch" => Split(Window("batch")),
                "write-to-SignalR" => Split(Window("write-to-SignalR, edge")),
                "memory" => MemoryWhere(),
                _ => "",
            };
            var close = f.Scenario == "single check" && f.Name.StartsWith("max latency", StringComparison.Ordinal)
                && Window("open loop 50") is { } openLoop && OutOfMachine(openLoop)
                    ? "a machine that holds the offered rate: this run's closed-loop saturation made half of it more than the open-loop generator " +
                      "(its own process; see 'generator' in the CPU table) and the edge fit in two cores together (see the split above), so requests " +
                      "queued from the start and the latency is the queue's. The edge answered the lower rates within the target (the latency table)."
                    : WhatWouldCloseIt(f);
            run.Report.Diagnosis.Add($"**{f.Scenario}: {f.Name}** = {f.Value:0.###} {f.Unit} (target {f.Target}). {where}. " +
                $"What would close it: {close}");
        }

        // An open-loop window that fell behind its offered rate with the machine's cores all busy.
        static bool OutOfMachine(CpuWindow window) =>
            window.Usage.MachineBusyPercent >= 185 && window.OperationsPerSecond is { } achieved
            && double.TryParse(window.Scenario.Split('(', ')')[1].Split('/')[0].Replace(",", "", StringComparison.Ordinal), out var offered)
            && achieved < 0.97 * offered;

        // Single check: the product's CPU per check against the ceiling's, and what the cold tail costs.
        var check = Window("single check, edge, wrk");
        var hot = Window("single check, edge, 1,000");
        var bare = Window("HTTP ceiling");
        if (check is not null && bare is not null && missed.Any(f => f.Scenario == "single check"))
        {
            var product = Micros(check, "edge") + Micros(check, "silo") + Micros(check, "postgres") + Micros(check, "redis");
            var ceiling = Micros(bare, "ceiling server");
            var hotProduct = Micros(hot, "edge") + Micros(hot, "silo");
            run.Report.Diagnosis.Add(
                $"Single check, per request: the edge + silo + PostgreSQL spend {product:0} µs of CPU per check over the 1M key space " +
                $"({(hot is null ? "" : $"{hotProduct:0} µs when every asked subject is already active, ")}bare Kestrel {ceiling:0} µs per request). " +
                "Two cores give at most 2,000,000 µs/s, shared with the load generator, so the check rate is bounded by about " +
                $"{(product > 0 ? 2e6 / (product + Micros(check, "wrk")) : 0):N0}/s here against {(ceiling > 0 ? 2e6 / (ceiling + Micros(bare, "wrk")) : 0):N0}/s for the ceiling: " +
                "what the ceiling does not pay is authentication, authorization and rate limiting, metrics, JSON of a real response, and for the checks " +
                "that need a new subject lease (first asks of a subject with a record, or after a revocation or a drop) the grain call from the edge process to the " +
                "silo process (Orleans serialization, socket writes and reads on loopback, the silo's scheduler); subjects without a record are decided " +
                "from their store's absence lease, without a grain call.");
        }

        if (check is not null && missed.Any(f => f.Scenario == "single check") && run.AttachedCheckRps > 0
            && SiloCounter("orleans-gateway-received") is var calls and > 0)
        {
            // Every request an edge sends the silo comes through its gateway: here, lease requests (and the edge's own
            // registration and absence leases, a few per second). Requests between grains in the silo are counted apart.
            var grainToGrain = SiloCounter("orleans-messaging-processing-dispatcher-received", "Context=Grain,Direction=Request");
            var siloCpu = SiloCounter("dotnet.process.cpu.time", "cpu.mode=user") + SiloCounter("dotnet.process.cpu.time", "cpu.mode=system");
            var hotSilo = hot is null ? 0 : Micros(hot, "silo");
            var extraEdge = hot is null ? 0 : Micros(check, "edge") - Micros(hot, "edge");
            run.Report.Diagnosis.Add(
                $"Cluster calls of the single check (dotnet-counters run, {run.AttachedCheckRps:N0} checks/s): the silo's gateway received {calls:N0} requests/s from the edge, " +
                $"{calls / run.AttachedCheckRps:P1} of checks (new subject leases, the edge's store leases and registration), and its grains sent each other " +
                $"{grainToGrain:N0}/s (subjects renewing their store's policy lease for their own decisions). The silo used {siloCpu * 1e6 / calls:0} µs of CPU per request it received " +
                (hot is null ? "" : $"({hotSilo:0.#} µs per check when only 1,000 active subjects are asked, against {Micros(check, "silo"):0.#} over the key space), ") +
                (hot is null ? "" : $"and the edge {extraEdge:0.#} µs more per check over the key space than on the 1,000 subjects. ") +
                "A subject lease runs until revoked (docs/coherence.md, L1-L4): a subject costs a cluster call on its first ask at this edge, " +
                "after a change revoked its lease, or after the edge dropped it (DecisionCache:MaxSubjects).");
        }

        if (run.Report.Counters.TryGetValue("edge", out var edgeCounters))
        {
            // The check is timed as a decision (it is left out of http.server.request.duration unless Telemetry:CheckRequestDuration);
            // dotnet-counters shows the histogram without its kind tag, and only checks run while it is attached.
            var serverP99 = edgeCounters.FirstOrDefault(c => c.Key.StartsWith("shopastro.decision.duration", StringComparison.Ordinal)
                && c.Key.Contains("Percentile=99", StringComparison.Ordinal)
                && (c.Key.Contains("kind=check", StringComparison.Ordinal) || !c.Key.Contains("kind=", StringComparison.Ordinal))).Value;
            var single = run.Report.Figures.FirstOrDefault(f => f.Name.StartsWith("p99 at", StringComparison.Ordinal));
            if (serverP99 > 0 && single is not null)
            {
                var activationP99 = SiloCounter("orleans-catalog-activation-latency", "Percentile=99");
                var activationRate = SiloCounter("orleans-catalog-activation-created", "grain_type=subject");
                var inside = serverP99 * 1000 / single.Value;
                run.Report.Diagnosis.Add(
                    $"Latency at 64 connections: the edge's own shopastro.decision.duration{{kind=check}} p99 (dotnet-counters run of the same load; from the request reaching the check to its decision, grain call included) averaged {serverP99 * 1000:0.#} ms " +
                    $"against p99 {single.Value:0.#} ms at the client, so {(inside >= 0.7 ? "most of the tail is inside the request: the grain call" : "much of the tail is outside the app: waiting for a core, Kestrel and socket buffers")}. " +
                    (activationRate >= 1
                        ? $"Meanwhile the silo created {activationRate:N0} activations/s (subjects with a record asked for the first time) with activation latency p99 {activationP99:0.#} ms " +
                          "(a PostgreSQL read and a store-lease call each); checks queue behind them for CPU, and a check of a cold subject waits for its activation."
                        : "The silo created no activations meanwhile: subjects without a record were decided from their stores' absence leases."));
            }
        }

        if (run.Report.Counters.ContainsKey("silo"))
        {
            var contention = SiloCounter("dotnet.monitor.lock_contentions");
            var gcPause = SiloCounter("dotnet.gc.pause.time");
            run.Report.Diagnosis.Add(
                $"Silo under the single-check load (the dotnet-counters run): {contention:0} lock contentions/s (dotnet-counters' own meter listener adds to the observable-instrument collection while it runs), GC pause {gcPause * 100:0.#} % of the time, " +
                $"GC mode {run.Report.Machine.GetValueOrDefault("silo GC", "?")} (the edge's: {run.Report.Machine.GetValueOrDefault("edge GC", "?")}).");
        }

        foreach (var (process, frames) in run.AllFrames)
        {
            // Shares come from the top 80 frames of the report; a frame outside them is below the 80th frame's share.
            var floor = frames.Count > 0 ? frames[^1].InclusivePercent : 0;
            string Share(string contains)
            {
                var share = frames.Where(f => f.Frame.Contains(contains, StringComparison.Ordinal)).Select(f => f.InclusivePercent).DefaultIfEmpty(-1).Max();
                return share < 0 ? $"< {floor:0.#} %" : $"{share:0.#} %";
            }

            bool Has(string contains) => frames.Any(f => f.Frame.Contains(contains, StringComparison.Ordinal));
            var parts = new List<string>
            {
                $"system calls {Share("do_syscall_64")}",
                $"thread-pool workers spinning in sched_yield (LowLevelLifoSemaphore.Wait) {Share("sched_yield")}",
            };
            if (Has("PeriodicExportingMetricReaderThreadWorker"))
            {
                parts.Add($"OpenTelemetry periodic metric collection {Share("PeriodicExportingMetricReaderThreadWorker")}" +
                          (process.StartsWith("silo", StringComparison.Ordinal)
                              ? " (the Orleans Dashboard's own MeterProvider, registered by AddDashboard() in SiloHostingExtensions, collecting Orleans' observable instruments on a timer" +
                                (Has("DirectoryInstruments::ObserveCacheSize") ? $"; of it DirectoryInstruments.ObserveCacheSize, a count over the grain directory cache, {Share("DirectoryInstruments::ObserveCacheSize")}" : "") + ")"
                              : ""));
            }

            if (Has("RelationalStorage"))
            {
                parts.Add($"Orleans ADO.NET storage {Share("RelationalStorage")} (reads, i.e. activations: {Share("ReadAsync")}; writes: {Share("WriteStateAsync")})");
            }

            if (Has("Npgsql"))
            {
                parts.Add($"Npgsql {Share("Npgsql")}");
            }

            if (Has("AuthenticationMiddleware"))
            {
                parts.Add($"ASP.NET Core pipeline from the authentication middleware inward (inclusive of the endpoint and the grain call) {Share("AuthenticationMiddleware")}");
            }

            if (Has("OutgoingCallInvoker"))
            {
                parts.Add($"the Orleans client call (OutgoingCallInvoker) {Share("OutgoingCallInvoker")}");
            }

            run.Report.Diagnosis.Add($"CPU profile of the {process} (share of its CPU samples with the frame on the stack): {string.Join("; ", parts)}.");
        }

        var writes = Window("durable writes");
        var pgCeiling = Window("PostgreSQL ceiling");
        if (writes is not null && missed.Any(f => f.Scenario == "durable writes"))
        {
            run.Report.Diagnosis.Add(
                $"Durable writes: PostgreSQL alone reached {run.PgCeilingRate:N0} upserts/s with the same 32-way concurrency on this machine ({Split(pgCeiling)}). " +
                $"Through the product each write costs {Micros(writes, "edge") + Micros(writes, "silo"):0} µs of edge + silo CPU on top of {Micros(writes, "postgres"):0} µs in PostgreSQL " +
                "(first writes: activation = a read of the missing row, the store-lease call, then the insert; the feed announcement; " +
                "and the HTTP and Orleans hops), so the CPU, not the commit, bounds the rate on two cores.");
        }

        var batch = Window("batch");
        if (batch is not null && missed.Any(f => f.Scenario == "batch"))
        {
            run.Report.Diagnosis.Add(
                $"Batch: {Micros(batch, "edge"):0.##} µs of edge CPU and {Micros(batch, "silo"):0.##} µs of silo CPU per decision. The edge makes one grain call per distinct subject " +
                $"({run.BatchDistinct:N0} distinct subjects per 10,000-item batch under this skew), each a Decide message serialized, " +
                "sent to the silo, scheduled on the grain and answered; plus parsing 10,000 JSON items and writing 10,000 results. " +
                $"The batch ceiling (bare Kestrel parsing the same bodies, a Dictionary lookup per item) spends {Micros(Window("batch ceiling"), "ceiling server"):0.##} µs per decision; " +
                $"the in-process Dictionary lookups alone run at {run.DictionaryLookups:N0}/s.");
        }

        var single2 = Window("single check, edge, wrk");
        if (single2 is not null)
        {
            var generator = single2.Usage.GroupPercent.GetValueOrDefault("wrk");
            run.Report.Notes.Add($"On {Environment.ProcessorCount} cores the load generator competes with the server: wrk used {generator:0} % of one core during the single-check window; " +
                              "the open-loop generator (a .NET HttpClient process of its own) costs more per request than wrk (see 'generator' in the CPU table), so its high-load points include generator queueing.");
        }

        var busiest = run.Report.Cpu.Where(c => !c.Scenario.StartsWith("memory", StringComparison.Ordinal)).DefaultIfEmpty().MaxBy(c => c?.Usage.OtherPercent ?? 0);
        if (busiest is not null && busiest.Usage.OtherPercent >= 10)
        {
            var average = run.Report.Cpu.Average(c => c.Usage.OtherPercent);
            run.Report.Notes.Add($"**Other work was running on this machine during the run** (other engineers' builds and test runs): on average {average:0} % of one core " +
                              $"(up to {busiest.Usage.OtherPercent:0} % in '{busiest.Scenario}') was used by processes not part of this run; " +
                              $"load average {run.Report.LoadAverageBefore} before, {run.Report.LoadAverageAfter} after. Every throughput figure is lower, and every tail latency higher, than on a quiet machine; " +
                              "the ceilings were measured under the same conditions, so the ratios are the fairer comparison.");
        }

        if (run.OtherProcesses.Count > 0)
        {
            var total = (run.Report.FinishedAt - run.Report.StartedAt).TotalSeconds;
            run.Report.Notes.Add($"Processes outside this run that used the most CPU during it ({total:0} s, {Environment.ProcessorCount * total:0} core-seconds available): " +
                              string.Join("; ", run.OtherProcesses.Select(p => $"`{p.Command.Replace('`', '\'')}` {p.CpuSeconds:0.#} s")));
            run.Report.Scenarios["otherProcesses"] = run.OtherProcesses.Select(p => new { p.Pid, p.Command, p.CpuSeconds }).ToArray();
        }
    }
}
