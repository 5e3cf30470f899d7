using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.LoadTests;

/// <summary>
/// The edge's lease table on its own, in one thread, at several sizes: what a check answered from a lease costs as the
/// table grows past the processor's caches (the lookup, then the two decisions of the single check's route, over the
/// key space's Zipf draws), and what keeping a new lease costs (its capacity test included). The table is filled as an
/// edge fills it: a record of its own per lease, with other allocations between. Where the single check's time goes
/// over the 1M key space, next to the hot set: load-tests/results/20261207-edge-lookups.md.
/// </summary>
public static class LookupBench
{
    private const int Checks = 4_000_000;
    private const int NewLeases = 20_000;

    public static async Task<int> RunAsync(IReadOnlyList<int> sizes)
    {
        // Warm-up: each path run often enough to be recompiled by tiered compilation before the first size is measured.
        for (var round = 0; round < 3; round++)
        {
            var (warm, warmKeys) = await FilledAsync(1_000);
            ChecksNs(warm, warmKeys, decide: true);
            await NewLeaseMicrosAsync(warm, 1_000);
        }

        Console.WriteLine("| leases held | TryGet, ns per check | TryGet + 2 decisions, ns per check | new lease kept, µs | ConcurrentDictionary.Count alone, µs |");
        Console.WriteLine("|--:|--:|--:|--:|--:|");
        foreach (var size in sizes)
        {
            var (leases, keys) = await FilledAsync(size);
            var lookup = MedianOfThree(() => ChecksNs(leases, keys, decide: false));
            var decided = MedianOfThree(() => ChecksNs(leases, keys, decide: true));
            var keep = await NewLeaseMicrosAsync(leases, size);
            Console.WriteLine($"| {size:N0} | {lookup:F0} | {decided:F0} | {keep:F2} | {CountMicros(size):F2} |");
        }

        return 0;
    }

    private static readonly StorePolicy Policy = new(1, StoreStatus.Active, true,
        ImmutableDictionary<Purpose, PurposeSetting>.Empty.Add(Purpose.Analytics, new(true, false)).Add(Purpose.Recommendation, new(true, false)),
        ImmutableDictionary<Purpose, int>.Empty, DateTimeOffset.UtcNow);

    private static async Task<(HeldLeases Leases, string[] Keys)> FilledAsync(int size)
    {
        var time = TimeProvider.System;
        var epoch = new HolderEpoch(time);
        epoch.Confirmed(time.GetTimestamp(), TimeSpan.FromHours(1), TimeSpan.Zero);
        var between = new List<byte[]>();
        var leases = new HeldLeases(time, epoch, key =>
        {
            // As an edge receives them: each record deserialized on its own, among the allocations of other requests.
            for (var i = 0; i < 16; i++)
            {
                between.Add(new byte[64]);
            }

            if (between.Count > 100_000)
            {
                between.Clear();
            }

            var choice = new ConsentChoice(key.Length % 4 != 0, 1, DateTimeOffset.UtcNow, ConsentSource.Banner, false, false);
            var record = SubjectRecord.Empty with { Consents = ImmutableDictionary<Purpose, ConsentChoice>.Empty.Add(Purpose.Analytics, choice) };
            return Task.FromResult(new DecisionLease(record, DecisionLease.UntilRevoked));
        }, capacity: 1_000_000);

        var space = new KeySpace(subjects: size);
        for (var rank = 1; rank <= size; rank++)
        {
            await leases.LeaseAsync(Key(space, space.IndexOfRank(rank)));
        }

        // The checks' keys, drawn as wrk draws them; each a string of its own, as a request's route values are.
        var random = new Random(11);
        var keys = new string[1 << 20];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = Key(space, space.SampleIndex(random));
        }

        GC.Collect();
        return (leases, keys);
    }

    private static string Key(KeySpace space, int index) => SubjectKey.Of(KeySpace.StoreId(space.StoreOf(index)), KeySpace.SubjectId(index));

    private static double ChecksNs(HeldLeases leases, string[] keys, bool decide)
    {
        ReadOnlySpan<Purpose> purposes = [Purpose.Analytics, Purpose.Cart];
        var allowed = 0;
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < Checks; i++)
        {
            if (leases.TryGet(keys[i & (keys.Length - 1)], out var lease) && decide)
            {
                foreach (var purpose in purposes)
                {
                    allowed += DecisionEngine.Decide(Policy, lease.Subject, purpose, RequestSignals.None).Allowed ? 1 : 0;
                }
            }
        }

        GC.KeepAlive(allowed);
        return Stopwatch.GetElapsedTime(started).TotalNanoseconds / Checks;
    }

    private static async Task<double> NewLeaseMicrosAsync(HeldLeases leases, int size)
    {
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < NewLeases; i++)
        {
            await leases.LeaseAsync(SubjectKey.Of("new", "u" + (size + i)));
        }

        return Stopwatch.GetElapsedTime(started).TotalMicroseconds / NewLeases;
    }

    /// <summary>What the capacity test cost each kept lease before the table counted its leases itself.</summary>
    private static double CountMicros(int size)
    {
        var dictionary = new ConcurrentDictionary<string, object>(StringComparer.Ordinal);
        for (var i = 0; i < size; i++)
        {
            dictionary.TryAdd("s/u" + i, dictionary);
        }

        const int counts = 20_000;
        var total = 0L;
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < counts; i++)
        {
            total += dictionary.Count;
        }

        GC.KeepAlive(total);
        return Stopwatch.GetElapsedTime(started).TotalMicroseconds / counts;
    }

    private static double MedianOfThree(Func<double> measure) => Medians.Of(Enumerable.Range(0, 3).Select(_ => measure()));
}
