using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using ShopAstro.Silo.Storage;

namespace ShopAstro.LoadTests;

/// <summary>Durable first writes on PostgreSQL, next to raw Npgsql upserts at the same concurrency; none lost after a silo SIGKILL.</summary>
internal sealed class WritesScenario(RunContext run, Cluster cluster, Profiler profiler)
{
    internal async Task DurableWritesAsync()
    {
        // The PostgreSQL ceiling: the same number of concurrent single-row durable upserts, no Orleans, no HTTP.
        var pg = await PostgresCeilingAsync();
        run.PgCeilingRate = pg.PerSecond;

        var warmUp = await WarmUpAsync(run.Profile.WriteWarmup, "warm-up");

        // Every acknowledged write: the hottest ranks first, so these are also the 'granted' answers of the checks.
        var count = run.Profile.PreloadWrites;
        var writes = await WriteHottestAsync(count);
        var (acknowledged, statuses, seconds, writeWindow) = (writes.Acknowledged, writes.Statuses, writes.Seconds, writes.Cpu);
        var latency = writes.Latency;
        var acked = writes.Acked;
        run.WritesPerSecond = acked / seconds;
        run.Report.Cpu.Add(new CpuWindow("durable writes (PUT consents)", writeWindow, Math.Round(run.WritesPerSecond, 1), "writes"));

        // None lost: crash the silo (SIGKILL), start a new one, and read every acknowledged write back from PostgreSQL.
        var recovery = Stopwatch.StartNew();
        run.Silo!.Kill();
        run.Silo = cluster.StartSilo("silo-after-crash.log");
        var silo = run.Silo;
        run.Cpu.Track("silo", () => silo.HasExited ? [] : [silo.Pid]);
        await cluster.WaitUntilServingAsync();
        var recoverySeconds = recovery.Elapsed.TotalSeconds;
        var (verified, lost, wrong, unreadable) = await VerifyAsync(acknowledged);
        // The profile of writes is taken from the new silo: warmed up the same way first.
        await WarmUpAsync(run.Profile.WriteWarmup, "warm-up-after-restart");
        await profiler.ProfileWritesAsync();

        run.Report.Scenarios["durableWrites"] = new
        {
            warmUp = new { writes = run.Profile.WriteWarmup, acknowledged = warmUp.Acked, seconds = Math.Round(warmUp.Seconds, 2), warmUp.Latency, warmUp.Statuses },
            writes = count, acknowledged = acked, concurrency = run.Profile.WriteConcurrency, seconds = Math.Round(seconds, 2),
            perSecond = Math.Round(run.WritesPerSecond, 1), latency, statuses, postgresCeiling = pg,
            verification = new { method = "silo SIGKILLed after the writes, a new silo started, every acknowledged write read back with GET subject", recoverySeconds = Math.Round(recoverySeconds, 1), verified, lost, wrong, unreadable },
        };
        var failedWrites = count - acked;
        run.Report.Add(new Figure("durable writes", $"PUT consents/s on PostgreSQL ({run.Profile.WriteConcurrency} concurrent, {count:N0} first writes, after {run.Profile.WriteWarmup:N0} to other subjects)",
            Math.Round(run.WritesPerSecond, 1), "writes/s", Math.Round(run.PgCeilingRate, 1), "raw Npgsql durable upserts, same concurrency",
            RunReport.RatioOf(run.WritesPerSecond, run.PgCeilingRate), ">= 0.40 of the ceiling", run.WritesPerSecond >= 0.4 * run.PgCeilingRate,
            failedWrites > 0 ? $"{failedWrites} writes not acknowledged: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}" : null));
        run.Report.Add(new Figure("durable writes", "write latency p99", latency.P99, "ms", pg.Latency.P99, "raw upsert p99",
            RunReport.RatioOf(latency.P99, pg.Latency.P99), "<= 2x the raw upsert p99", latency.P99 <= 2 * pg.Latency.P99, $"p50 {latency.P50} / p90 {latency.P90} / p99.9 {latency.P999} / max {latency.Max} ms"));
        run.Report.Add(new Figure("durable writes", "acknowledged writes lost (after silo SIGKILL + restart)", lost + wrong, "writes", null, null, null,
            "0 lost", lost + wrong == 0 && unreadable == 0, $"{verified:N0} of {acked:N0} read back with the acknowledged choice; {unreadable} unreadable; recovery {recoverySeconds:0.0} s"));
    }

    internal sealed record FirstWrites(bool?[] Acknowledged, LatencySummary Latency, ConcurrentDictionary<string, int> Statuses, double Seconds, CpuSampler.Usage Cpu)
    {
        public int Acked => Acknowledged.Count(a => a is not null);
    }

    /// <summary>
    /// The first consent of the hottest <paramref name="count"/> ranks (3 in 4 grants), <see cref="Profile.WriteConcurrency"/> at a time:
    /// these are also the 'granted' / 'withdrawn' answers of the checks. Acknowledged[rank] is the choice the edge acknowledged.
    /// </summary>
    internal Task<FirstWrites> WriteHottestAsync(int count) => WriteFirstAsync(count, rank =>
    {
        var index = run.Keys.IndexOfRank((int)rank);
        return ($"/v1/stores/{KeySpace.StoreId(run.Keys.StoreOf(index))}/subjects/{KeySpace.SubjectId(index)}/consents", rank % 4 != 0);
    });

    /// <summary>
    /// First writes of subjects outside the key space, at the same concurrency, neither measured nor checked later: the
    /// processes have just started, and a measurement from cold would count their JIT compilation and connection pools
    /// (about a tenth of the silo's CPU in the first seconds) as the cost of a write.
    /// </summary>
    internal Task<FirstWrites> WarmUpAsync(int count, string prefix) => WriteFirstAsync(count, i =>
        ($"/v1/stores/{KeySpace.StoreId((int)(i % run.Profile.Stores))}/subjects/{prefix}-{i}/consents", i % 4 != 0));

    private async Task<FirstWrites> WriteFirstAsync(int count, Func<long, (string Path, bool Granted)> target)
    {
        var acknowledged = new bool?[count + 1];
        var histogram = new MicrosHistogram();
        var statuses = new ConcurrentDictionary<string, int>();
        long next = 0;
        using var http = run.Http(run.EdgeUrl, RunContext.StorefrontToken, run.Profile.WriteConcurrency);
        var from = run.Cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, run.Profile.WriteConcurrency).Select(async _ =>
        {
            await Task.Yield();
            long i;
            while ((i = Interlocked.Increment(ref next)) <= count)
            {
                var (path, granted) = target(i);
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.PutAsync(path,
                        RunContext.Json($$"""{"purposes":{"analytics":{{(granted ? "true" : "false")}}},"policyVersion":1,"source":"banner"}"""));
                    await response.Content.LoadIntoBufferAsync();
                    histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                    statuses.AddOrUpdate(((int)response.StatusCode).ToString(), 1, (_, n) => n + 1);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        acknowledged[i] = granted;
                    }
                }
                catch (Exception e)
                {
                    histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                    statuses.AddOrUpdate(e.GetType().Name, 1, (_, n) => n + 1);
                }
            }
        }));
        return new FirstWrites(acknowledged, histogram.Summary(), statuses, watch.Elapsed.TotalSeconds, run.Cpu.Between(from, run.Cpu.Now));
    }

    internal sealed record PgCeiling(int Concurrency, double Seconds, long Rows, double PerSecond, LatencySummary Latency);

    internal async Task<PgCeiling> PostgresCeilingAsync()
    {
        // Connected as the consent store connects (prepared statements kept, pooled connections not reset): a ceiling
        // without its connection settings would be lower than the product can reach.
        var builder = new NpgsqlConnectionStringBuilder(ConsentStore.Parse(run.ConsentConnection).ConnectionString)
        {
            MaxPoolSize = run.Profile.WriteConcurrency + 4,
        };
        await using var source = NpgsqlDataSource.Create(builder.ConnectionString);
        await using (var create = source.CreateCommand("CREATE TABLE IF NOT EXISTS load_ceiling (k text PRIMARY KEY, v bytea NOT NULL, version int NOT NULL)"))
        {
            await create.ExecuteNonQueryAsync();
        }

        var payload = new byte[600];
        Random.Shared.NextBytes(payload);
        var histogram = new MicrosHistogram();
        long rows = 0;
        var duration = run.Profile.PgCeilingDuration;
        var from = run.Cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, run.Profile.WriteConcurrency).Select(async worker =>
        {
            await Task.Yield();
            var i = 0;
            while (watch.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                await using var command = source.CreateCommand(
                    "INSERT INTO load_ceiling (k, v, version) VALUES ($1, $2, 1) ON CONFLICT (k) DO UPDATE SET v = excluded.v, version = load_ceiling.version + 1");
                command.Parameters.Add(new NpgsqlParameter { Value = $"s{worker}/c{i++}" });
                command.Parameters.Add(new NpgsqlParameter { Value = payload });
                await command.ExecuteNonQueryAsync();
                histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                Interlocked.Increment(ref rows);
            }
        }));
        var seconds = watch.Elapsed.TotalSeconds;
        run.Report.Cpu.Add(new CpuWindow("PostgreSQL ceiling (raw upserts)", run.Cpu.Between(from, run.Cpu.Now), Math.Round(rows / watch.Elapsed.TotalSeconds, 1), "upserts"));
        return new PgCeiling(run.Profile.WriteConcurrency, Math.Round(seconds, 2), rows, Math.Round(rows / seconds, 1), histogram.Summary());
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
