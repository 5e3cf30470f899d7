using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace ShopAstro.LoadTests;

/// <summary>Durable first writes on PostgreSQL, alternating with raw Npgsql upserts at the same concurrency; none lost after a silo SIGKILL.</summary>
internal sealed class WritesScenario(RunContext run, Cluster cluster, Profiler profiler)
{
    internal async Task DurableWritesAsync()
    {
        var warmUp = await WarmUpAsync(run.Profile.WriteWarmup, "warm-up");

        // The hottest ranks first, so these are also the 'granted' answers of the checks; in parts, each next to the
        // PostgreSQL ceiling (the same number of concurrent single-row durable upserts, no Orleans, no HTTP).
        var count = run.Profile.PreloadWrites;
        var (pairs, acknowledged, latency, statuses) = await MeasurePairsAsync(count);
        var acked = pairs.Pairs.Sum(p => p.Writes.Acked);
        run.WritesPerSecond = acked / pairs.Pairs.Sum(p => p.Writes.Seconds);
        var median = pairs.Median();
        run.PgCeilingRate = median.Ceiling.PerSecond;
        run.Report.Cpu.Add(new CpuWindow("durable writes (PUT consents, median pair)", median.Writes.Cpu, Math.Round(median.Writes.PerSecond, 1), "writes"));
        run.Report.Cpu.Add(new CpuWindow("PostgreSQL ceiling (raw upserts, median pair)", median.Ceiling.Cpu, median.Ceiling.PerSecond, "upserts"));

        // The profile of writes comes from the silo and edge that made the measured ones, as warm as they were for them
        // (a silo started after the crash still had the JIT in 6-15 % of its samples after its 3,000 or 10,000 warm-up writes).
        await profiler.ProfileWritesAsync();

        // None lost: crash the silo (SIGKILL), start a new one, and read every acknowledged write back from PostgreSQL.
        var recovery = Stopwatch.StartNew();
        run.Silo!.Kill();
        run.Silo = cluster.StartSilo("silo-after-crash.log");
        var silo = run.Silo;
        run.Cpu.Track("silo", () => silo.HasExited ? [] : [silo.Pid]);
        await cluster.WaitUntilServingAsync();
        var recoverySeconds = recovery.Elapsed.TotalSeconds;
        var (verified, lost, wrong, unreadable) = await VerifyAsync(acknowledged);

        run.Report.Scenarios["durableWrites"] = new
        {
            warmUp = new { writes = run.Profile.WriteWarmup, acknowledged = warmUp.Acked, seconds = Math.Round(warmUp.Seconds, 2), warmUp.Latency, warmUp.Statuses },
            writes = count, acknowledged = acked, concurrency = run.Profile.WriteConcurrency, perSecond = Math.Round(run.WritesPerSecond, 1), latency, statuses,
            pairs = pairs.Pairs.Select(p => new
            {
                writes = new { p.Writes.Acked, seconds = Math.Round(p.Writes.Seconds, 2), perSecond = Math.Round(p.Writes.PerSecond, 1), p.Writes.Latency },
                postgresCeiling = p.Ceiling, rateRatio = Math.Round(p.RateRatio, 3), p99Ratio = Math.Round(p.P99Ratio, 3),
            }),
            medianRateRatio = pairs.RateRatio, medianP99Ratio = pairs.P99Ratio,
            verification = new { method = "silo SIGKILLed after the writes, a new silo started, every acknowledged write read back with GET subject", recoverySeconds = Math.Round(recoverySeconds, 1), verified, lost, wrong, unreadable },
        };
        var failedWrites = count - acked;
        run.Report.Add(new Figure("durable writes",
            $"PUT consents/s on PostgreSQL ({run.Profile.WriteConcurrency} concurrent, {count:N0} first writes after {run.Profile.WriteWarmup:N0} to other subjects; " +
            $"median of {pairs.Pairs.Count} alternating pairs of {count / pairs.Pairs.Count:N0} writes and {(run.Profile.PgCeilingDuration / pairs.Pairs.Count).TotalSeconds:0.#} s of upserts)",
            Math.Round(median.Writes.PerSecond, 1), "writes/s", median.Ceiling.PerSecond, "raw Npgsql durable upserts, same concurrency, same pair",
            pairs.RateRatio, ">= 0.40 of the ceiling", pairs.RateRatio >= 0.4,
            $"pair ratios: {pairs.RatiosText(p => p.RateRatio, p => p.Writes.PerSecond, p => p.Ceiling.PerSecond, "N0")}; all {count:N0}: {run.WritesPerSecond:N0} writes/s" +
            (failedWrites > 0 ? $"; {failedWrites} writes not acknowledged: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}" : "")));
        var tail = pairs.MedianP99();
        run.Report.Add(new Figure("durable writes", "write latency p99 (median of the pairs' ratios)", tail.Writes.Latency.P99, "ms", tail.Ceiling.Latency.P99, "raw upsert p99, same pair",
            pairs.P99Ratio, "<= 2x the raw upsert p99", pairs.P99Ratio <= 2,
            $"pair ratios: {pairs.RatiosText(p => p.P99Ratio, p => p.Writes.Latency.P99, p => p.Ceiling.Latency.P99, "0.##")} ms; all {count:N0}: p50 {latency.P50} / p90 {latency.P90} / p99 {latency.P99} / p99.9 {latency.P999} / max {latency.Max} ms"));
        run.Report.Add(new Figure("durable writes", "acknowledged writes lost (after silo SIGKILL + restart)", lost + wrong, "writes", null, null, null,
            "0 lost", lost + wrong == 0 && unreadable == 0, $"{verified:N0} of {acked:N0} read back with the acknowledged choice; {unreadable} unreadable; recovery {recoverySeconds:0.0} s"));
    }

    /// <summary>
    /// Writes, ceiling, writes, ceiling, ...: the first writes of the hottest <paramref name="count"/> ranks in
    /// <see cref="Profile.WritePairs"/> parts, each followed by raw upserts for its share of <see cref="Profile.PgCeilingDuration"/>
    /// (the machine's speed drifts by more than the effects measured here between runs minutes apart).
    /// </summary>
    private async Task<(WritePairs Pairs, bool?[] Acknowledged, LatencySummary Latency, ConcurrentDictionary<string, int> Statuses)> MeasurePairsAsync(int count)
    {
        var parts = run.Profile.WritePairs;
        var window = run.Profile.PgCeilingDuration / parts;
        var acknowledged = new bool?[count + 1];
        var all = new MicrosHistogram();
        var statuses = new ConcurrentDictionary<string, int>();
        await using var ceiling = await PostgresCeiling.OpenAsync(run);
        // Unmeasured: the ceiling's connections opened and its statement prepared, as the product's are after the warm-up.
        await ceiling.RunAsync(TimeSpan.FromSeconds(1));
        var pairs = new List<WritePair>();
        for (var i = 0; i < parts; i++)
        {
            long first = (long)count * i / parts + 1, last = (long)count * (i + 1) / parts;
            var writes = await WriteFirstAsync(first, last, HottestRank, acknowledged, all, statuses);
            var upserts = await ceiling.RunAsync(window);
            pairs.Add(new WritePair(writes, upserts));
            Console.WriteLine($"writes pair {i + 1}: {writes.PerSecond:N0} writes/s p99 {writes.Latency.P99} ms, ceiling {upserts.PerSecond:N0} upserts/s p99 {upserts.Latency.P99} ms, ratio {pairs[^1].RateRatio:0.###}");
        }

        return (new WritePairs(pairs), acknowledged, all.Summary(), statuses);
    }

    internal sealed record FirstWrites(int Acked, LatencySummary Latency, ConcurrentDictionary<string, int> Statuses, double Seconds, CpuSampler.Usage Cpu)
    {
        public double PerSecond => Seconds > 0 ? Acked / Seconds : 0;
    }

    /// <summary>
    /// The first consent of the hottest <paramref name="count"/> ranks (3 in 4 grants), <see cref="Profile.WriteConcurrency"/> at a time:
    /// these are also the 'granted' / 'withdrawn' answers of the checks (<see cref="MeasurePairsAsync"/> writes them in parts).
    /// </summary>
    internal Task<FirstWrites> WriteHottestAsync(int count) => WriteFirstAsync(1, count, HottestRank);

    private (string Path, bool Granted) HottestRank(long rank)
    {
        var index = run.Keys.IndexOfRank((int)rank);
        return ($"/v1/stores/{KeySpace.StoreId(run.Keys.StoreOf(index))}/subjects/{KeySpace.SubjectId(index)}/consents", rank % 4 != 0);
    }

    /// <summary>
    /// First writes of subjects outside the key space, at the same concurrency, neither measured nor checked later: the
    /// processes have just started, and a measurement from cold would count their JIT compilation and connection pools
    /// (about a tenth of the silo's CPU in the first seconds) as the cost of a write.
    /// </summary>
    internal Task<FirstWrites> WarmUpAsync(int count, string prefix) => WriteFirstAsync(1, count, i =>
        ($"/v1/stores/{KeySpace.StoreId((int)(i % run.Profile.Stores))}/subjects/{prefix}-{i}/consents", i % 4 != 0));

    /// <summary>
    /// Writes <paramref name="first"/>..<paramref name="last"/>; when given, the acknowledged choice of each into <paramref name="acknowledged"/>,
    /// each latency also into <paramref name="all"/> and each status into <paramref name="statuses"/>.
    /// </summary>
    private async Task<FirstWrites> WriteFirstAsync(
        long first, long last, Func<long, (string Path, bool Granted)> target, bool?[]? acknowledged = null, MicrosHistogram? all = null, ConcurrentDictionary<string, int>? statuses = null)
    {
        var histogram = new MicrosHistogram();
        var own = new ConcurrentDictionary<string, int>();
        var acked = 0;
        var next = first - 1;
        using var http = run.Http(run.EdgeUrl, RunContext.StorefrontToken, run.Profile.WriteConcurrency);
        var from = run.Cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, run.Profile.WriteConcurrency).Select(async _ =>
        {
            await Task.Yield();
            long i;
            while ((i = Interlocked.Increment(ref next)) <= last)
            {
                var (path, granted) = target(i);
                var started = Stopwatch.GetTimestamp();
                string status;
                try
                {
                    using var response = await http.PutAsync(path,
                        RunContext.Json($$"""{"purposes":{"analytics":{{(granted ? "true" : "false")}}},"policyVersion":1,"source":"banner"}"""));
                    await response.Content.LoadIntoBufferAsync();
                    status = ((int)response.StatusCode).ToString();
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        if (acknowledged is not null)
                        {
                            acknowledged[i] = granted;
                        }

                        Interlocked.Increment(ref acked);
                    }
                }
                catch (Exception e)
                {
                    status = e.GetType().Name;
                }

                var ticks = Stopwatch.GetTimestamp() - started;
                histogram.RecordTicks(ticks);
                all?.RecordTicks(ticks);
                own.AddOrUpdate(status, 1, (_, n) => n + 1);
                statuses?.AddOrUpdate(status, 1, (_, n) => n + 1);
            }
        }));
        return new FirstWrites(acked, histogram.Summary(), own, watch.Elapsed.TotalSeconds, run.Cpu.Inside(from, run.Cpu.Now));
    }

    internal async Task<(long Verified, long Lost, long Wrong, long Unreadable)> VerifyAsync(bool?[] acknowledged)
    {
        long verified = 0, lost = 0, wrong = 0, unreadable = 0;
        using var http = run.Http(run.EdgeUrl, RunContext.AdminToken, 64);
        var ranks = Enumerable.Range(1, acknowledged.Length - 1).Where(r => acknowledged[r] is not null).ToArray();
        await Parallel.ForEachAsync(ranks, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (rank, ct) =>
        {
            var index = run.Keys.IndexOfRank(rank);
            for (var attempt = 0; attempt < 20; attempt++)
            {
                try
                {
                    using var response = await http.GetAsync($"/v1/stores/{KeySpace.StoreId(run.Keys.StoreOf(index))}/subjects/{KeySpace.SubjectId(index)}", ct);
                    if (response.StatusCode == HttpStatusCode.NotFound)
                    {
                        Interlocked.Increment(ref lost);
                        return;
                    }

                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
                        var granted = body["consents"]?["analytics"]?["granted"]?.GetValue<bool>();
                        if (granted == acknowledged[rank])
                        {
                            Interlocked.Increment(ref verified);
                        }
                        else
                        {
                            Interlocked.Increment(ref wrong);
                        }

                        return;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }

                await Task.Delay(500, ct);
            }

            Interlocked.Increment(ref unreadable);
        });
        return (verified, lost, wrong, unreadable);
    }
}
