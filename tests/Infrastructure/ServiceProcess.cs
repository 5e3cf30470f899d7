using System.Diagnostics;
using System.Text;

namespace ShopAstro.Tests.Infrastructure;

/// <summary>
/// A silo or edge API started as its own process from the build output, as an operator runs it. Output
/// is kept for the failure message.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServiceProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    /// <summary>SIGSTOP: the process freezes, its connections stay open (a long GC pause, a stalled VM).</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString()]) { UseShellExecute = false })!;
            kill.WaitForExit();
        }
    }

    public static ServiceProcess Start(string project, IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        Start(project, environment, networkNamespace: null, arguments);

    /// <summary>Starts the project's build output; inside <paramref name="networkNamespace"/> (ip netns exec, as root) when given.</summary>
    public static ServiceProcess Start(string project, IReadOnlyDictionary<string, string> environment, string? networkNamespace, params string[] arguments)
    {
        var dll = Path.Combine(RepositoryRoot, project, "bin", BuildConfiguration, "net10.0", $"ShopAstro.{project}.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"Build {project} first ({BuildConfiguration}).", dll);
        }

        // ip netns exec execs the command itself: the process started is the service, for signals and kills.
        var start = new ProcessStartInfo(networkNamespace is null ? "dotnet" : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        if (networkNamespace is not null)
        {
            foreach (var argument in new[] { "netns", "exec", networkNamespace, "dotnet" })
            {
                start.ArgumentList.Add(argument);
            }
        }

        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The child must not inherit the test host's own settings.
        start.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        start.Environment.Remove("DOTNET_ENVIRONMENT");
        // A crash (an unhandled exception, a fatal signal) leaves a crash report (every thread's stack, the exception) and a
        // mini dump next to the test results: an edge that once died at start-up with no output left nothing to go on.
        Directory.CreateDirectory(CrashDumps);
        start.Environment["DOTNET_DbgEnableMiniDump"] = "1";
        start.Environment["DOTNET_DbgMiniDumpType"] = "1";
        start.Environment["DOTNET_EnableCrashReport"] = "1";
        start.Environment["DOTNET_DbgMiniDumpName"] = Path.Combine(CrashDumps, $"{project}-%p.dmp");
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return new ServiceProcess(Process.Start(start)!);
    }

    /// <summary>Where crashed processes' dumps and crash reports go (artifacts/test-results/crash-dumps).</summary>
    public static string CrashDumps => Path.Combine(RepositoryRoot, "artifacts", "test-results", "crash-dumps");

    /// <summary>
    /// Why the process is gone, once it has exited: its exit code (and the signal of a code above 128), everything it
    /// wrote (read to the end first: the lines of a process that has just exited can still be on their way), and its crash
    /// report if it left one.
    /// </summary>
    public async Task<string> DescribeExitAsync()
    {
        using var drained = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            // Returns once the process has exited and its redirected output has been read to the end.
            await _process.WaitForExitAsync(drained.Token);
        }
        catch (OperationCanceledException)
        {
        }

        if (!_process.HasExited)
        {
            return $"The process {Id} is still running:\n{Output}";
        }

        var code = _process.ExitCode;
        var signal = code > 128 ? $" (signal {code - 128}{(code - 128) switch { 6 => ", SIGABRT: an unhandled exception or a runtime abort", 9 => ", SIGKILL", 11 => ", SIGSEGV", _ => "" }})" : "";
        var reports = Directory.Exists(CrashDumps)
            ? Directory.GetFiles(CrashDumps, $"*-{Id}.dmp*").Order(StringComparer.Ordinal).ToArray()
            : [];
        var left = reports.Length > 0 ? $"\nCrash report and dump: {string.Join(", ", reports)}" : "";
        return $"The process {Id} exited with {code}{signal}:{left}\n{Output}";
    }

    /// <summary>Polls until the HTTP endpoint answers 200, or fails with the process output.</summary>
    public async Task WaitForHttpAsync(string url, TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException(await DescribeExitAsync());
            }

            try
            {
                using var response = await client.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{url} did not answer 200 within {timeout}:\n{Output}");
    }

    /// <summary>Waits until the output contains a line, e.g. a silo's start-up message.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"'{text}' did not appear. {await DescribeExitAsync()}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"'{text}' did not appear within {timeout}:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>SIGKILL: no graceful shutdown, as a crash.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            // SIGTERM: the host's graceful shutdown.
            Process.Start("kill", ["-TERM", _process.Id.ToString()])?.WaitForExit();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
    }

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string BuildConfiguration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";

    public static string RedisOrFail()
    {
        var redis = Environment.GetEnvironmentVariable("SHOPASTRO_TEST_REDIS");
        return string.IsNullOrWhiteSpace(redis)
            ? throw new InvalidOperationException("SHOPASTRO_TEST_REDIS is not set. Run the tests with scripts/test.sh, which starts Redis.")
            : redis;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ShopAstro.Actors.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("ShopAstro.Actors.sln not found above the test output.");
    }
}
