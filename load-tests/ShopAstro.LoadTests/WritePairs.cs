using System.Diagnostics;
using System.Text.Json.Serialization;
using Npgsql;
using ShopAstro.Silo.Storage;

namespace ShopAstro.LoadTests;

/// <summary>One part of the first writes and the raw-upsert ceiling run right after it.</summary>
internal sealed record WritePair(WritesScenario.FirstWrites Writes, UpsertRun Ceiling)
{
    public double RateRatio => Writes.PerSecond / Math.Max(1, Ceiling.PerSecond);

    public double P99Ratio => Writes.Latency.P99 / Math.Max(0.001, Ceiling.Latency.P99);
}

/// <summary>The alternating pairs of the durable writes and their medians, as <see cref="CheckPairs"/> for the single check.</summary>
internal sealed record WritePairs(List<WritePair> Pairs)
{
    public double RateRatio => Medians.Of(Pairs.Select(p => p.RateRatio));

    public double P99Ratio => Medians.Of(Pairs.Select(p => p.P99Ratio));

    /// <summary>The pair whose rate ratio is the median.</summary>
    public WritePair Median() => Medians.PairOf(Pairs, p => p.RateRatio);

    /// <summary>The pair whose p99 ratio is the median.</summary>
    public WritePair MedianP99() => Medians.PairOf(Pairs, p => p.P99Ratio);

    public string RatiosText(Func<WritePair, double> ratio, Func<WritePair, double> writes, Func<WritePair, double> ceiling, string format) =>
        Medians.RatiosText(Pairs, ratio, writes, ceiling, format);
}

/// <summary>One run of the raw-upsert ceiling.</summary>
internal sealed record UpsertRun(int Concurrency, double Seconds, long Rows, double PerSecond, LatencySummary Latency)
{
    [JsonIgnore]
    public CpuSampler.Usage Cpu { get; init; } = null!;
}

/// <summary>
/// The durable-write ceiling: raw Npgsql single-row upserts (600-byte <c>bytea</c>) at the product's write concurrency,
/// connected as the consent store connects (prepared statements kept, pooled connections not reset): a ceiling without
/// its connection settings would be lower than the product can reach. Every run inserts rows of its own.
/// </summary>
internal sealed class PostgresCeiling : IAsyncDisposable
{
    private const string Upsert =
        "INSERT INTO load_ceiling (k, v, version) VALUES ($1, $2, 1) ON CONFLICT (k) DO UPDATE SET v = excluded.v, version = load_ceiling.version + 1";

    private readonly RunContext _run;
    private readonly NpgsqlDataSource _source;
    private readonly byte[] _payload = new byte[600];
    private int _runs;

    private PostgresCeiling(RunContext run, NpgsqlDataSource source)
    {
        _run = run;
        _source = source;
        Random.Shared.NextBytes(_payload);
    }

    public static async Task<PostgresCeiling> OpenAsync(RunContext run)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConsentStore.Parse(run.ConsentConnection).ConnectionString)
        {
            MaxPoolSize = run.Profile.WriteConcurrency + 4,
        };
        var source = NpgsqlDataSource.Create(builder.ConnectionString);
        await using (var create = source.CreateCommand("CREATE TABLE IF NOT EXISTS load_ceiling (k text PRIMARY KEY, v bytea NOT NULL, version int NOT NULL)"))
        {
            await create.ExecuteNonQueryAsync();
        }

        return new PostgresCeiling(run, source);
    }

    public async Task<UpsertRun> RunAsync(TimeSpan duration)
    {
        var runId = ++_runs;
        var concurrency = _run.Profile.WriteConcurrency;
        var histogram = new MicrosHistogram();
        long rows = 0;
        var from = _run.Cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            await Task.Yield();
            var i = 0;
            while (watch.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                await using var command = _source.CreateCommand(Upsert);
                command.Parameters.Add(new NpgsqlParameter { Value = $"r{runId}/s{worker}/c{i++}" });
                command.Parameters.Add(new NpgsqlParameter { Value = _payload });
                await command.ExecuteNonQueryAsync();
                histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                Interlocked.Increment(ref rows);
            }
        }));
        var seconds = watch.Elapsed.TotalSeconds;
        return new UpsertRun(concurrency, Math.Round(seconds, 2), rows, Math.Round(rows / seconds, 1), histogram.Summary()) { Cpu = _run.Cpu.Inside(from, _run.Cpu.Now) };
    }

    public ValueTask DisposeAsync() => _source.DisposeAsync();
}
