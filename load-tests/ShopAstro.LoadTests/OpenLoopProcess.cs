using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace ShopAstro.LoadTests;

/// <summary>
/// The open loop's single checks sent from a process of its own (the <c>open-loop</c> subcommand), not from the
/// harness: on two cores the generator competes with the edge for CPU, so it is made as lean as it can be and is
/// given the CPU when a send comes due.
/// <list type="bullet">
/// <item>Its thread pool does not spin before a worker sleeps (<c>DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0</c>,
/// as the edge and the silo run), which the harness's own process cannot do: the raw-upsert ceiling of the durable
/// writes runs there and must keep its settings. Alone at 8,000 checks/s against the ceiling server, the spinning
/// raised the generator's CPU per request from 42 to 74 µs.</item>
/// <item>Its scheduler sleeps whenever no send is due, and the process runs at a higher priority (<c>nice -n -10</c>,
/// where permitted) so that it wakes when the next send is due instead of waiting behind the processes under test:
/// without it, a sleeping scheduler's dispatch lag reached 116 ms (load-tests/results/20261207-edge-lookups.md),
/// and a yielding one kept a core busy.</item>
/// </list>
/// Orders go in on its standard input and results come out on its standard output, one JSON line each; its
/// connections (64 per target) stay open between orders.
/// </summary>
public sealed class OpenLoopProcess : IAsyncDisposable
{
    public const int Connections = 64;
    public const int Niceness = -10;

    private const string SpinLimitVariable = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";
    private readonly Process _process;
    private readonly StreamWriter _log;

    private OpenLoopProcess(Process process, string logFile)
    {
        _process = process;
        _log = new StreamWriter(logFile, append: false) { AutoFlush = true };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_log)
                {
                    _log.WriteLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
    }

    /// <summary>One run of the open loop: single checks of the key space at <see cref="Rate"/> per second.</summary>
    public sealed record Order(string Target, string BaseUrl, double Rate, double Seconds);

    public int Pid => _process.Id;

    /// <summary>How the generator runs, for the report's machine table.</summary>
    public string Description =>
        $"own process (nice {CpuSampler.Niceness(Pid)?.ToString(CultureInfo.InvariantCulture) ?? "?"}, {SpinLimitVariable}=0), " +
        $"SocketsHttpHandler with {Connections} connections, scheduler sleeping when no send is due";

    public static OpenLoopProcess Start(string harnessDll, KeySpace keys, string logFile)
    {
        // GNU nice runs the command at the unchanged priority, with a warning, where it may not raise it.
        var start = new ProcessStartInfo("nice")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(harnessDll)!,
        };
        foreach (var argument in new[]
                 {
                     "-n", Niceness.ToString(CultureInfo.InvariantCulture), "dotnet", harnessDll, "open-loop",
                     "--subjects", keys.Subjects.ToString(CultureInfo.InvariantCulture), "--stores", keys.Stores.ToString(CultureInfo.InvariantCulture),
                 })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment[SpinLimitVariable] = "0";
        return new OpenLoopProcess(Process.Start(start)!, logFile);
    }

    public async Task<OpenLoopResult> RunAsync(string target, string baseUrl, double rate, TimeSpan duration)
    {
        await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(new Order(target, baseUrl, rate, duration.TotalSeconds)));
        await _process.StandardInput.FlushAsync();
        // The run, then up to 40 s for the last answers (OpenLoop.RunAsync), and some slack.
        using var timeout = new CancellationTokenSource(duration + TimeSpan.FromSeconds(60));
        var line = await _process.StandardOutput.ReadLineAsync(timeout.Token)
                   ?? throw new InvalidOperationException($"the open-loop generator exited with {(_process.HasExited ? _process.ExitCode : -1)} (see its log)");
        return JsonSerializer.Deserialize<OpenLoopResult>(line)!;
    }

    /// <summary>The <c>open-loop</c> subcommand: runs each order read from standard input, answers each on standard output.</summary>
    public static async Task<int> ServeAsync(KeySpace keys)
    {
        var clients = new Dictionary<string, HttpMessageInvoker>(StringComparer.Ordinal);
        try
        {
            while (await Console.In.ReadLineAsync() is { } line)
            {
                var order = JsonSerializer.Deserialize<Order>(line)!;
                // What a run left (an overloaded one: a backlog of requests, responses and timers) is collected now, not
                // by a full collection that stops the generator in the middle of the next run.
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                if (!clients.TryGetValue(order.BaseUrl, out var client))
                {
                    clients[order.BaseUrl] = client = OpenLoop.Client(Connections);
                }

                var result = await OpenLoop.RunAsync(order.Target, client, _ => OpenLoop.CheckRequest(keys, order.BaseUrl), order.Rate,
                    TimeSpan.FromSeconds(order.Seconds), yieldWhenDueSoon: false);
                await Console.Out.WriteLineAsync(JsonSerializer.Serialize(result));
                await Console.Out.FlushAsync();
            }
        }
        finally
        {
            foreach (var client in clients.Values)
            {
                client.Dispose();
            }
        }

        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            // End of input: the generator finishes and exits.
            _process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (Exception)
        {
            // It had exited already, or does not exit: killed below.
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }
}
