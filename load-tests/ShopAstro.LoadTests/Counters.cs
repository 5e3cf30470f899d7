using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ShopAstro.LoadTests;

/// <summary>dotnet-counters attached to a process during an extra, unmeasured run; averaged per counter.</summary>
internal sealed class Counters(RunContext run)
{
    internal sealed record CounterRun(string Name, Process Process, string File);

    /// <param name="CountAllocations">Whether the run also counts the process's allocations (the request servers: the edge and the ceiling).</param>
    internal sealed record Target(string Name, int Pid, string Providers, bool CountAllocations);

    internal static Target Edge(string name, int pid) =>
        new(name, pid, "System.Runtime,Microsoft.AspNetCore.Hosting[http.server.request.duration],Microsoft.AspNetCore.Server.Kestrel,ShopAstro.Edge[shopastro.decision.duration]", true);

    internal static Target Silo(int pid) => new("silo", pid, "System.Runtime,Microsoft.Orleans", false);

    /// <summary>Bytes allocated per request by one process over an attached run, and how they were counted.</summary>
    internal sealed record Allocation(double PerRequest, string Source, string Detail);

    private readonly Dictionary<string, (long? Bytes, long Ticks)> _ticks = new(StringComparer.Ordinal);

    /// <summary>
    /// wrk's single-check load, unmeasured, with dotnet-counters and an allocation-tick session attached to the targets;
    /// returns wrk's result (what the allocations are divided by).
    /// </summary>
    internal async Task<WrkResult> AttachedCheckRunAsync(string label, string baseUrl, params Target[] targets)
    {
        var p = run.Profile;
        var attached = StartCounters(p.WrkDuration, targets);
        var ticks = targets.Where(t => t.CountAllocations).Select(t => (t.Name, Session: AllocationTicks.Start(t.Pid))).ToList();
        var result = await Wrk.RunAsync($"{label}, dotnet-counters attached", baseUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, p.WrkDuration, run.WrkEnvironment());
        foreach (var (name, session) in ticks)
        {
            if (session is not null)
            {
                var (bytes, count) = await session.StopAsync();
                _ticks[name] = (bytes, count);
            }
        }

        await CollectCountersAsync(attached);
        return result;
    }

    /// <summary>
    /// Bytes allocated per request by <paramref name="name"/> over its attached run: the GC's allocation ticks over
    /// its requests (see <see cref="AllocationTicks"/> for why not the process's own count), with the dotnet-counters
    /// rate of <c>dotnet.gc.heap.total_allocated</c> beside it; that rate alone where the ticks could not be read.
    /// </summary>
    internal Allocation? AllocationOf(string name, WrkResult attachedRun)
    {
        var rate = run.Report.Counters.GetValueOrDefault(name)?.FirstOrDefault(c => c.Key.StartsWith("dotnet.gc.heap.total_allocated", StringComparison.Ordinal)).Value;
        double? fromCounters = rate is { } r && attachedRun.RequestsPerSecond > 0 ? Math.Round(r / attachedRun.RequestsPerSecond, 0) : null;
        var counted = fromCounters is { } c ? $"{c:N0} B" : "no figure";
        if (_ticks.GetValueOrDefault(name) is { Bytes: { } bytes } ticks && attachedRun.Requests > 0)
        {
            return new Allocation(Math.Round((double)bytes / attachedRun.Requests, 0), "the GC's allocation ticks over EventPipe / requests of an extra wrk run",
                $"{bytes / 1e6:N1} MB in {ticks.Ticks:N0} ticks over {attachedRun.Requests:N0} requests; the process's own count (dotnet.gc.heap.total_allocated) gave {counted}");
        }

        // The process's own count alone: a rate of 0 under load is that count stopped, not a figure.
        return fromCounters is { } perRequest && perRequest > 0
            ? new Allocation(perRequest, "dotnet.gc.heap.total_allocated rate / request rate of the dotnet-counters run",
                "no allocation ticks could be read: the process's own count, which stops or jumps when DATAS changes the heap count (dotnet/runtime#131069)")
            : null;
    }

    internal List<CounterRun> StartCounters(TimeSpan duration, params Target[] targets)
    {
        var runs = new List<CounterRun>();
        var tool = MachineInfo.DotnetTool("dotnet-counters");
        if (!File.Exists(tool))
        {
            if (!run.Report.Notes.Any(n => n.StartsWith("dotnet-counters is not installed", StringComparison.Ordinal)))
            {
                run.Report.Notes.Add("dotnet-counters is not installed (run.sh installs it with `dotnet tool install -g dotnet-counters` when NuGet serves it); CPU split from /proc only, no allocation per check.");
            }

            return runs;
        }

        foreach (var (name, pid, providers, _) in targets)
        {
            var file = Path.Combine(run.Logs, $"counters-{name.Replace(' ', '-').Replace("(", "").Replace(")", "")}.json");
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "collect", "-p", pid.ToString(), "--format", "json", "-o", file, "--refresh-interval", "1", "--counters", providers,
                         "--duration", duration.Add(TimeSpan.FromSeconds(-1)).ToString(@"dd\:hh\:mm\:ss") })
            {
                start.ArgumentList.Add(a);
            }

            try
            {
                var process = Process.Start(start)!;
                _ = process.StandardOutput.ReadToEndAsync();
                _ = process.StandardError.ReadToEndAsync();
                run.Cpu.Track("dotnet-counters", () => runs.Where(r => !r.Process.HasExited).Select(r => r.Process.Id).ToArray());
                runs.Add(new CounterRun(name, process, file));
            }
            catch (Exception e)
            {
                run.Report.Notes.Add($"dotnet-counters for {name} did not start: {e.Message}");
            }
        }

        return runs;
    }

    internal async Task CollectCountersAsync(List<CounterRun> runs)
    {
        foreach (var attached in runs)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await attached.Process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                attached.Process.Kill();
            }

            attached.Process.Dispose();
            if (!File.Exists(attached.File))
            {
                run.Report.Notes.Add($"dotnet-counters wrote nothing for {attached.Name}");
                continue;
            }

            try
            {
                run.Report.Counters[attached.Name] = SummariseCounters(await File.ReadAllTextAsync(attached.File));
            }
            catch (Exception e)
            {
                run.Report.Notes.Add($"dotnet-counters output for {attached.Name} could not be read: {e.Message}");
            }
        }
    }

    internal static readonly string[] InterestingCounters =
    [
        "cpu", "gc.collections", "gc.heap.total_allocated", "gc.pause.time", "gc.last_collection.heap.size", "thread_pool.queue.length",
        "thread_pool.thread.count", "thread_pool.work_item.count", "lock_contentions", "exceptions", "http.server.request.duration", "shopastro.decision.duration",
        "kestrel.active_connections", "working_set", "time-in-gc", "alloc-rate", "threadpool", "catalog", "activation",
        "gateway-received", "dispatcher-received",
    ];

    internal static Dictionary<string, double> SummariseCounters(string json)
    {
        // dotnet-counters may leave the JSON unterminated when stopped; close it if needed.
        var text = json.TrimEnd();
        JsonNode? root = null;
        foreach (var candidate in new[] { text, text.TrimEnd(',') + "]}", text.TrimEnd(',') + "}]}" })
        {
            try
            {
                root = JsonNode.Parse(candidate);
                break;
            }
            catch (JsonException)
            {
            }
        }

        var sums = new Dictionary<string, (double Sum, int Count)>(StringComparer.Ordinal);
        foreach (var e in root?["Events"]?.AsArray() ?? [])
        {
            var name = e?["name"]?.GetValue<string>() ?? "";
            if (!InterestingCounters.Any(i => name.Contains(i, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            var tags = e?["tags"]?.ToString() ?? "";
            if (tags.Contains("grain_type=sys.", StringComparison.Ordinal) || name.Contains("activation-working-set", StringComparison.Ordinal))
            {
                // Orleans' own system targets, one series each, and the working-set gauge beside the activation count: noise here.
                continue;
            }

            if (name.Contains("request.duration", StringComparison.Ordinal) && !tags.Contains("Percentile", StringComparison.Ordinal))
            {
                continue;
            }

            var key = tags.Length > 0 ? $"{name} [{Shorten(tags)}]" : name;
            var value = e?["value"]?.GetValue<double>() ?? 0;
            sums[key] = sums.TryGetValue(key, out var s) ? (s.Sum + value, s.Count + 1) : (value, 1);
        }

        return sums.OrderBy(kv => kv.Key, StringComparer.Ordinal).Take(80).ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value.Sum / kv.Value.Count, 3));
    }

    /// <summary>The tags that tell a counter's series apart (an Orleans counter has one per grain type, or per message context and direction).</summary>
    internal static string Shorten(string tags)
    {
        var parts = tags.Split(new[] { ',', ';' }).Where(t => KeptTags.Any(k => t.Contains(k, StringComparison.Ordinal)));
        return string.Join(',', parts);
    }

    private static readonly string[] KeptTags = ["Percentile", "gc.heap.generation", "cpu.mode", "http.route", "kind", "grain_type", "Context", "Direction"];
}
