using System.Diagnostics;
using System.Text;

namespace ShopAstro.LoadTests;

/// <summary>A silo, edge API or ceiling server started as its own process, its output kept in a log file.</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly StringBuilder _tail = new();

    private ServiceProcess(string name, Process process, string logFile)
    {
        Name = name;
        _process = process;
        _log = new StreamWriter(logFile, append: false) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public static ServiceProcess Start(string name, string dll, IReadOnlyDictionary<string, string> environment, string logFile, params string[] arguments) =>
        Start(name, [], dll, environment, logFile, arguments);

    /// <summary><c>dotnet exec --runtimeconfig FILE DLL ...</c>: the process runs with that runtime configuration instead of the DLL's own.</summary>
    public static ServiceProcess StartWithRuntimeConfig(
        string name, string dll, string runtimeConfig, IReadOnlyDictionary<string, string> environment, string logFile, params string[] arguments) =>
        Start(name, ["exec", "--runtimeconfig", runtimeConfig], dll, environment, logFile, arguments);

    private static ServiceProcess Start(
        string name, string[] hostArguments, string dll, IReadOnlyDictionary<string, string> environment, string logFile, string[] arguments)
    {
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{name}: {dll} not found (run load-tests/run.sh, which publishes it).", dll);
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        foreach (var argument in hostArguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        start.Environment.Remove("DOTNET_ENVIRONMENT");
        start.Environment.Remove("ASPNETCORE_URLS");
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return new ServiceProcess(name, Process.Start(start)!, logFile);
    }

    public string Tail
    {
        get
        {
            lock (_tail)
            {
                return _tail.ToString();
            }
        }
    }

    public async Task WaitForHttpAsync(string url, TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{Tail}");
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

            await Task.Delay(250);
        }

        throw new TimeoutException($"{url} ({Name}) did not answer 200 within {timeout}:\n{Tail}");
    }

    /// <summary>SIGKILL: a crash, no graceful shutdown.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

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
            // SIGTERM to this process id only: the host's graceful shutdown.
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]))
            {
                kill?.WaitForExit();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
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
        lock (_tail)
        {
            _log.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            if (!_disposed)
            {
                _log.WriteLine(line);
            }

            _tail.AppendLine(line);
            if (_tail.Length > 16_000)
            {
                _tail.Remove(0, _tail.Length - 8_000);
            }
        }
    }

    /// <summary>A port for a server this run starts, from below the ephemeral range (<see cref="ShopAstro.Tests.Infrastructure.TestPorts"/>).</summary>
    public static int FreePort() => ShopAstro.Tests.Infrastructure.TestPorts.Next();
}
