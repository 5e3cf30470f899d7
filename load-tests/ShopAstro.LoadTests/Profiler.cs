using System.Diagnostics;

namespace ShopAstro.LoadTests;

/// <summary>CPU profiles (dotnet-trace collect-linux) of the edge and the silo during extra, unmeasured loads, summarised as top frames.</summary>
internal sealed class Profiler(RunContext run)
{
    internal readonly List<(string Process, string File)> _traces = [];

    internal Task ProfileChecksAsync() => ProfileAsync("checks", async () =>
    {
        var p = run.Profile;
        await Wrk.RunAsync("profiling run (not measured)", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(14), run.WrkEnvironment());
    });

    /// <summary>The same for first writes: 32 concurrent PUTs to new subjects, as in the measured scenario, for about 14 s.</summary>
    internal Task ProfileWritesAsync() => ProfileAsync("writes", async () =>
    {
        using var http = run.Http(run.EdgeUrl, RunContext.StorefrontToken, run.Profile.WriteConcurrency);
        var watch = Stopwatch.StartNew();
        long next = 0;
        await Task.WhenAll(Enumerable.Range(0, run.Profile.WriteConcurrency).Select(async _ =>
        {
            await Task.Yield();
            while (watch.Elapsed < TimeSpan.FromSeconds(14))
            {
                var i = Interlocked.Increment(ref next);
                try
                {
                    using var response = await http.PutAsync($"/v1/stores/{KeySpace.StoreId((int)(i % run.Profile.Stores))}/subjects/p{run.Stamp}x{i}/consents",
                        RunContext.Json("""{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}"""));
                }
                catch (Exception)
                {
                }
            }
        }));
    });

    internal async Task ProfileAsync(string label, Func<Task> generate)
    {
        var tool = MachineInfo.DotnetTool("dotnet-trace");
        if (!File.Exists(tool))
        {
            if (label == "checks")
            {
                run.Report.Notes.Add("dotnet-trace is not installed (run.sh installs it when NuGet serves it): no CPU profiles.");
            }

            return;
        }

        var load = generate();
        await Task.Delay(1500);
        foreach (var (name, pid) in new[] { ("edge", run.Edge!.Pid), ("silo", run.Silo!.Pid) })
        {
            var file = Path.Combine(run.Logs, $"trace-{name}-{label}.nettrace");
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "collect-linux", "-p", pid.ToString(), "--profile", "cpu-sampling", "--duration", "00:00:00:05", "-o", file })
            {
                start.ArgumentList.Add(a);
            }

            try
            {
                using var trace = Process.Start(start)!;
                var output = Task.WhenAll(trace.StandardOutput.ReadToEndAsync(), trace.StandardError.ReadToEndAsync());
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await trace.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    trace.Kill(entireProcessTree: true);
                }

                var text = string.Concat(await output);
                if (File.Exists(file))
                {
                    _traces.Add(($"{name} during {label}", file));
                }
                else
                {
                    run.Report.Notes.Add($"dotnet-trace collect-linux wrote no trace for {name} ({label}): {text.Trim().Split('\n').LastOrDefault()}");
                }
            }
            catch (Exception e)
            {
                run.Report.Notes.Add($"dotnet-trace for {name} ({label}) did not run: {e.Message}");
            }
        }

        await load;
    }

    internal static readonly string[] KernelFramesKept = ["do_syscall_64", "tcp_sendmsg", "__x64_sys_sched_yield", "do_epoll_wait", "__x64_sys_futex", "tcp_v4_rcv"];

    internal static readonly string[] GenericFrames =
    [
        "Threading.ExecutionContext::Run", "CompilerServices.AsyncMethodBuilderCore::Start", "Tasks.Task::ExecuteWithThreadLocal",
        "Tasks.Task::ExecuteEntryUnsafe", "Tasks.AwaitTaskContinuation::RunOrScheduleAction", "Tasks.Task::RunContinuations",
        "(Non-Activities)", "Threads", "EventData:", "EventName:", "libc.so.6!start_thread", "libc.so.6!__clone3", "Process64 ", "Thread (",
    ];

    internal async Task ReportProfilesAsync()
    {
        foreach (var (name, file) in _traces)
        {
            var text = await MachineInfo.Tool(MachineInfo.DotnetTool("dotnet-trace"), "report", file, "topN", "-n", "80", "--inclusive");
            var frames = new List<ProfileFrame>();
            foreach (var line in text.Split('\n'))
            {
                var match = System.Text.RegularExpressions.Regex.Match(line, @"^\s*\d+\.\s+(?<frame>.+?)\s{2,}(?<inclusive>[\d.]+)%\s+(?<exclusive>[\d.]+)%");
                if (!match.Success)
                {
                    continue;
                }

                var frame = match.Groups["frame"].Value.Trim();
                if (GenericFrames.Any(g => frame.StartsWith(g, StringComparison.Ordinal)) || frame.EndsWith("!?", StringComparison.Ordinal))
                {
                    continue;
                }

                // Kernel frames: only the total of system calls and a few telling paths, not every frame of the syscall entry.
                if (frame.StartsWith("vmlinux!", StringComparison.Ordinal)
                    && !KernelFramesKept.Any(k => frame.Equals("vmlinux!" + k, StringComparison.Ordinal)))
                {
                    continue;
                }

                if (frames.Any(f => f.Frame == frame))
                {
                    continue;
                }

                frames.Add(new ProfileFrame(frame, double.Parse(match.Groups["inclusive"].Value, System.Globalization.CultureInfo.InvariantCulture)));
            }

            if (frames.Count > 0)
            {
                run.AllFrames[name] = frames;
                run.Report.Profiles[name] = frames.Take(25).ToList();
            }
            else
            {
                run.Report.Notes.Add($"the CPU profile of {name} could not be summarised ({file})");
            }
        }
    }
}
