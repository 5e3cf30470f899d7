using System.Collections.Immutable;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Silo;

namespace ShopAstro.LoadTests;

/// <summary>
/// In its own process: the decision ceiling (a Dictionary lookup loop over the same key space) and its bytes per
/// entry, then the embedded default silo (one silo in process, SQLite in a temporary folder) to measure the managed
/// memory of active subject grains and what an activation costs. Storage does not enter the in-memory footprint:
/// a never-written subject's activation reads one missing row; a granted one holds its record.
/// </summary>
public static class MemoryBench
{
    public sealed record DictionaryCeiling(long Entries, double LookupsPerSecond, int Threads, double BytesPerEntry);

    public sealed record GrainPoint(
        long ActiveSubjects, long Activated, double Seconds, double ActivationsPerSecond, double CpuMicrosPerActivation,
        double BytesPerGrain, double WorkingSetBytesPerGrain, long HeapBytes, long SubjectActivationsReported, string Kind);

    public sealed record Result(DictionaryCeiling Dictionary, List<GrainPoint> Points, string Storage, string Gc, string Notes);

    public static async Task<int> RunAsync(IReadOnlyList<long> checkpoints, long granted, string folder, string output, int subjects, int stores)
    {
        Directory.CreateDirectory(folder);
        var keys = new KeySpace(subjects, stores);
        var dictionary = MeasureDictionary(keys);
        Console.WriteLine($"dictionary ceiling: {dictionary.LookupsPerSecond:N0} lookups/s, {dictionary.BytesPerEntry:N0} B/entry");

        var builder = Host.CreateApplicationBuilder([]);
        builder.Logging.ClearProviders();
        builder.Configuration["ConnectionStrings:Consent"] = $"Data Source={Path.Combine(folder, "consent.db")}";
        builder.Configuration["Orleans:SiloPort"] = ServiceProcess.FreePort().ToString();
        builder.Configuration["Orleans:GatewayPort"] = ServiceProcess.FreePort().ToString();
        builder.UseOrleans(silo =>
        {
            silo.AddConsentSilo(builder.Configuration);
            // Keep every activation for the measurement (the default collects grains idle for 15 minutes).
            silo.Configure<GrainCollectionOptions>(o => o.CollectionAge = TimeSpan.FromHours(3));
        });
        using var host = builder.Build();
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var purposes = ImmutableDictionary<Purpose, PurposeSetting>.Empty
            .Add(Purpose.Analytics, new PurposeSetting(true, false))
            .Add(Purpose.Recommendation, new PurposeSetting(true, false));
        for (var s = 0; s < stores; s++)
        {
            await grains.GetGrain<IStoreGrain>(KeySpace.StoreId(s)).PublishPolicy(new PolicyUpdate(1, StoreStatus.Active, true, purposes));
        }

        var points = new List<GrainPoint>();
        // As in the cluster, every subject is asked for through an edge's decision cache: it leases its decision
        // inputs to one registered holder, which it remembers.
        var holder = grains.CreateObjectReference<IDecisionLeaseHolder>(new NoOpHolder());
        await grains.GetGrain<ILeaseHolderRegistryGrain>(0).Register(holder);

        // Warm-up: JIT, Orleans' per-type and per-store structures, SQLite's statements; not counted.
        await ActivateAsync(grains, 0, 5_000, stores, "w", holder);
        var management = grains.GetGrain<IManagementGrain>(0);
        if (granted > 0)
        {
            // Subjects with one grant each, measured first on a small heap: their record (one choice, one hash-chained
            // receipt) is in memory too.
            var before = Heap();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            var update = new ConsentUpdate(ImmutableDictionary<Purpose, bool>.Empty.Add(Purpose.Analytics, true), 1, ConsentSource.Banner, RequestSignals.None);
            await ForEachAsync(granted, 64, async i =>
            {
                var key = SubjectKey.Of(KeySpace.StoreId((int)(i % stores)), "g" + i);
                var subject = grains.GetGrain<ISubjectGrain>(key);
                var result = await subject.SetConsents(update);
                if (result.Status != ConsentWriteStatus.Recorded)
                {
                    throw new InvalidOperationException($"grant for {key}: {result.Status}");
                }

                await RetryTimeoutsAsync(() => subject.LeaseDecisions(holder));
            });
            var seconds = watch.Elapsed.TotalSeconds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds;
            var heap = Heap();
            var point = new GrainPoint(granted, granted, Math.Round(seconds, 2), Math.Round(granted / seconds), Math.Round(cpu / granted, 1),
                Math.Round((double)(heap - before) / granted, 1), 0, heap, await SubjectActivations(management), "one grant each (activation + SQLite write + decision lease)");
            points.Add(point);
            Console.WriteLine(JsonSerializer.Serialize(point));
        }

        var baseline = Heap();
        var baselineWorkingSet = WorkingSet();
        long active = 0;
        foreach (var checkpoint in checkpoints.Order())
        {
            var count = checkpoint - active;
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            await ActivateAsync(grains, active, count, stores, "m", holder);
            var seconds = watch.Elapsed.TotalSeconds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds;
            active = checkpoint;
            var heap = Heap();
            var reported = await SubjectActivations(management);
            var point = new GrainPoint(active, count, Math.Round(seconds, 2), Math.Round(count / seconds), Math.Round(cpu / count, 1),
                Math.Round((double)(heap - baseline) / active, 1), Math.Round((double)(WorkingSet() - baselineWorkingSet) / active, 1),
                heap, reported, "never written (decision lease only)");
            points.Add(point);
            Console.WriteLine(JsonSerializer.Serialize(point));
        }

        var result = new Result(dictionary, points, "SQLite (temporary folder), embedded default silo in process",
            $"server GC {System.Runtime.GCSettings.IsServerGC}, concurrent {AppContext.TryGetSwitch("System.GC.Concurrent", out var c) && c}",
            "bytes per grain = (GC.GetTotalMemory(true) after - before) / subjects activated; the baseline is taken after 5,000 warm-up activations" +
            (_timeouts > 0 ? $"; {_timeouts:N0} lease calls ran past the 2 s check timeout and were asked again." : "."));
        await File.WriteAllTextAsync(output, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        await host.StopAsync(TimeSpan.FromSeconds(10));
        return 0;
    }

    private static Task ActivateAsync(IGrainFactory grains, long from, long count, int stores, string prefix, IDecisionLeaseHolder holder) =>
        ForEachAsync(count, 512, async n =>
        {
            var i = from + n;
            var key = SubjectKey.Of(KeySpace.StoreId((int)(i % stores)), prefix + i);
            var lease = await RetryTimeoutsAsync(() => grains.GetGrain<ISubjectGrain>(key).LeaseDecisions(holder));
            if (lease.Duration <= TimeSpan.Zero)
            {
                throw new InvalidOperationException("no decision lease granted");
            }
        });

    private static long _timeouts;

    /// <summary>
    /// A lease call that ran past the product's 2 s check timeout (512 activations in flight on a busy 2-core machine) is
    /// asked again: the activation it waited for goes on, and the figure is its memory, not its latency. Counted in the notes.
    /// </summary>
    private static async Task<T> RetryTimeoutsAsync<T>(Func<ValueTask<T>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (TimeoutException) when (attempt < 5)
            {
                Interlocked.Increment(ref _timeouts);
            }
        }
    }

    private sealed class NoOpHolder : IDecisionLeaseHolder
    {
        public Task Revoke(string storeId, string subjectId) => Task.CompletedTask;

        public Task AddPresent(string storeId, string subjectId) => Task.CompletedTask;

        public Task RevokeAbsence(string storeId) => Task.CompletedTask;
    }

    private static async Task ForEachAsync(long count, int concurrency, Func<long, Task> body)
    {
        long next = -1;
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            await Task.Yield();
            long i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await body(i);
            }
        });
        await Task.WhenAll(workers);
    }

    private static async Task<long> SubjectActivations(IManagementGrain management)
    {
        try
        {
            var stats = await management.GetSimpleGrainStatistics();
            return stats.Where(s => s.GrainType.Contains("Subject", StringComparison.OrdinalIgnoreCase)).Sum(s => (long)s.ActivationCount);
        }
        catch (Exception)
        {
            return -1;
        }
    }

    private static long Heap()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static long WorkingSet()
    {
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return self.WorkingSet64;
    }

    private sealed record SubjectEntry(bool AnalyticsGranted, int PolicyVersion, DecisionReason Reason);

    /// <summary>The decision ceiling: a lookup in a Dictionary of the whole key space, on every core.</summary>
    private static DictionaryCeiling MeasureDictionary(KeySpace keys)
    {
        var before = Heap();
        var map = new Dictionary<string, SubjectEntry>(keys.Subjects, StringComparer.Ordinal);
        for (var i = 0; i < keys.Subjects; i++)
        {
            map[SubjectKey.Of(KeySpace.StoreId(keys.StoreOf(i)), KeySpace.SubjectId(i))] =
                new SubjectEntry(i % 4 != 0, 1, i % 4 != 0 ? DecisionReason.Granted : DecisionReason.NoConsent);
        }

        var bytesPerEntry = (double)(Heap() - before) / keys.Subjects;

        // Lookups use their own string instances (as a request's key would be), drawn with the same skew.
        var lookupKeys = new string[keys.Subjects];
        for (var i = 0; i < keys.Subjects; i++)
        {
            lookupKeys[i] = SubjectKey.Of(KeySpace.StoreId(keys.StoreOf(i)), KeySpace.SubjectId(i));
        }

        var random = new Random(42);
        var draws = new int[1 << 22];
        for (var i = 0; i < draws.Length; i++)
        {
            draws[i] = keys.SampleIndex(random);
        }

        var threads = Environment.ProcessorCount;
        long total = 0;
        var duration = TimeSpan.FromSeconds(3);
        var watch = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            long done = 0;
            long granted = 0;
            var position = t * (draws.Length / threads);
            while (watch.Elapsed < duration)
            {
                for (var k = 0; k < 4096; k++)
                {
                    if (map.TryGetValue(lookupKeys[draws[position++ & (draws.Length - 1)]], out var entry) && entry.AnalyticsGranted)
                    {
                        granted++;
                    }
                }

                done += 4096;
            }

            Interlocked.Add(ref total, done);
            GC.KeepAlive(granted);
        });
        var rate = total / watch.Elapsed.TotalSeconds;
        GC.KeepAlive(map);
        return new DictionaryCeiling(keys.Subjects, Math.Round(rate), threads, Math.Round(bytesPerEntry, 1));
    }
}
