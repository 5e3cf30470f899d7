using System.Text.Json;

namespace ShopAstro.LoadTests;

/// <summary>Memory per grain and activation cost, from the in-process embedded silo (a separate harness process).</summary>
internal sealed class MemoryScenario(RunContext run)
{
    internal async Task MemoryAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), "shopastro-load-memory-" + run.Stamp);
        var output = Path.Combine(folder, "memory.json");
        Directory.CreateDirectory(folder);
        try
        {
            var checkpoints = string.Join(',', run.Profile.MemoryCheckpoints);
            await using var memory = ServiceProcess.Start("memory", run.Options.HarnessDll, new Dictionary<string, string>(), Path.Combine(run.Logs, "memory.log"),
                "memory", "--checkpoints", checkpoints, "--granted", run.Profile.MemoryGranted.ToString(), "--dir", folder, "--output", output,
                "--subjects", run.Keys.Subjects.ToString(), "--stores", run.Keys.Stores.ToString());
            run.Started.Add(memory);
            run.Cpu.Track("memory bench", memory.Pid);
            var from = run.Cpu.Now;
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(run.Profile.Name == "full" ? 45 : 8);
            while (!memory.HasExited && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
            }

            run.Report.Cpu.Add(new CpuWindow("memory per grain (in-process silo, SQLite)", run.Cpu.Between(from, run.Cpu.Now)));
            if (!memory.HasExited || !File.Exists(output))
            {
                throw new InvalidOperationException($"the memory measurement did not finish:\n{memory.Tail}");
            }

            var result = JsonSerializer.Deserialize<MemoryBench.Result>(await File.ReadAllTextAsync(output))!;
            run.DictionaryLookups = result.Dictionary.LookupsPerSecond;
            run.Report.Scenarios["memory"] = result;
            if (result.Notes.Contains("timeout", StringComparison.Ordinal))
            {
                run.Report.Notes.Add($"Memory measurement: {result.Notes.Split("; ").Last()}");
            }
            run.Report.Add(new Figure("batch", $"diagnostic: in-process Dictionary lookups/s, no HTTP, no JSON ({result.Dictionary.Entries:N0} keys, {result.Dictionary.Threads} threads, same skew)",
                result.Dictionary.LookupsPerSecond, "lookups/s", null, null, null, null, null));
            foreach (var point in result.Points)
            {
                var kind = point.Kind.StartsWith("never", StringComparison.Ordinal);
                run.Report.Add(new Figure("memory", kind
                        ? $"managed memory per active subject grain at {point.ActiveSubjects:N0} subjects ({point.Kind})"
                        : $"managed memory per active subject grain, {point.Activated:N0} subjects with {point.Kind}",
                    point.BytesPerGrain, "B", result.Dictionary.BytesPerEntry, "Dictionary entry (key string + record)",
                    RunReport.RatioOf(point.BytesPerGrain, result.Dictionary.BytesPerEntry), "<= 3 KiB (3,072 B)", point.BytesPerGrain <= 3072,
                    $"{point.SubjectActivationsReported:N0} subject activations reported by Orleans (incl. warm-up)" +
                    (point.WorkingSetBytesPerGrain > 0 ? $"; process working set {point.WorkingSetBytesPerGrain:N0} B/grain" : "")));
                run.Report.Add(new Figure("memory", $"activation cost ({point.Kind}, {point.Activated:N0} activations)", point.ActivationsPerSecond, "activations/s",
                    null, null, null, null, null, $"{point.CpuMicrosPerActivation:N1} µs CPU per activation (all threads), {point.Seconds} s wall"));
            }
        }
        finally
        {
            run.Started.RemoveAll(p => p.Name == "memory");
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception)
            {
            }
        }
    }
}
