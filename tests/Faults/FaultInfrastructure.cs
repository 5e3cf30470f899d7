using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Faults;

/// <summary>
/// Fault tests kill processes and servers and measure recovery: they run one after the other, never beside
/// another test of this collection.
/// </summary>
[CollectionDefinition("faults", DisableParallelization = true)]
public sealed class FaultsCollection;

/// <summary>
/// Silo and edge API processes of one fault test, on their own cluster id. Everything started here is killed
/// at disposal (the test measured what it wanted; a graceful shutdown of a half-dead cluster only costs time).
/// </summary>
internal sealed class FaultCluster(string redis, string consent, IReadOnlyDictionary<string, string>? extraSettings = null) : IAsyncDisposable
{
    public const string Token = "faults-admin-token";

    private readonly List<(string Name, ServiceProcess Process)> _processes = [];

    /// <summary>Runs a fault scenario; an unexpected failure carries every process's recent output.</summary>
    public async Task RunAsync(Func<Task> scenario)
    {
        try
        {
            await scenario();
        }
        catch (Exception exception) when (exception is not Xunit.Sdk.XunitException)
        {
            throw new InvalidOperationException($"{exception.Message}\n{Describe()}", exception);
        }
    }
    private int _silos;
    private int _edges;

    public string ClusterId { get; } = "faults-" + Guid.NewGuid().ToString("N")[..8];

    public sealed record Edge(string Name, ServiceProcess Process, string Url);

    /// <summary>Starts a silo and waits until it is active in the membership.</summary>
    public async Task<ServiceProcess> StartSiloAsync()
    {
        var silo = ServiceProcess.Start("Silo", Settings(new()
        {
            ["Orleans__SiloPort"] = EdgeApiFactory.FreePort().ToString(),
            ["Orleans__GatewayPort"] = EdgeApiFactory.FreePort().ToString(),
        }));
        Track($"silo{Interlocked.Increment(ref _silos)}", silo);
        await silo.WaitForOutputAsync("Finished BecomeActive", TimeSpan.FromSeconds(90));
        return silo;
    }

    /// <summary>Starts an edge API process (an Orleans client) and waits until /health/ready answers 200.</summary>
    public async Task<Edge> StartEdgeAsync(TimeSpan? readyWithin = null)
    {
        var url = $"http://127.0.0.1:{EdgeApiFactory.FreePort()}";
        var process = ServiceProcess.Start("EdgeApi", Settings(new()
        {
            ["ASPNETCORE_URLS"] = url,
            ["Auth__Tokens__0__Token"] = Token,
            ["Auth__Tokens__0__Role"] = "admin",
        }));
        var name = $"edge{Interlocked.Increment(ref _edges)}";
        Track(name, process);
        await process.WaitForHttpAsync(url + "/health/ready", readyWithin ?? TimeSpan.FromSeconds(90));
        return new Edge(name, process, url);
    }

    public static HttpClient Client(string url, TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 256,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri(url), Timeout = timeout ?? TimeSpan.FromSeconds(15) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }

    /// <summary>The tail of every process's output, for failure messages.</summary>
    public string Describe(int tailCharacters = 4000)
    {
        var text = new StringBuilder();
        lock (_processes)
        {
            foreach (var (name, process) in _processes)
            {
                var output = process.Output;
                text.AppendLine($"----- {name} (exited: {process.HasExited}) -----");
                text.AppendLine(output.Length > tailCharacters ? "..." + output[^tailCharacters..] : output);
            }
        }

        return text.ToString();
    }

    /// <summary>The last log entry of a level ("fail: " with its exception, "warn: "), for failure messages.</summary>
    public static string LastFailure(ServiceProcess process, int length = 2500, string level = "fail: ")
    {
        var output = process.Output;
        var at = output.LastIndexOf(level, StringComparison.Ordinal);
        return at < 0 ? $"(nothing logged at '{level.Trim()}')" : output.Substring(at, Math.Min(length, output.Length - at));
    }

    public async ValueTask DisposeAsync()
    {
        List<(string Name, ServiceProcess Process)> processes;
        lock (_processes)
        {
            processes = [.. _processes];
        }

        foreach (var (_, process) in processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }

        foreach (var (_, process) in processes)
        {
            await process.DisposeAsync();
        }
    }

    private void Track(string name, ServiceProcess process)
    {
        lock (_processes)
        {
            _processes.Add((name, process));
        }
    }

    private Dictionary<string, string> Settings(Dictionary<string, string> settings)
    {
        settings["ConnectionStrings__Redis"] = redis;
        settings["ConnectionStrings__Consent"] = consent;
        settings["Orleans__ClusterId"] = ClusterId;
        settings["Consent__AnonymisationKey"] = EdgeApiFactory.AnonymisationKey;
        // One information line per grain placement and per request would drown the output kept for failures.
        settings["Logging__LogLevel__Polly"] = "Warning";
        settings["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning";
        foreach (var (key, value) in extraSettings ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        return settings;
    }
}

/// <summary>Monotonic times of the load generators.</summary>
internal static class Clock
{
    public static long Now => Stopwatch.GetTimestamp();

    public static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;

    public static double Milliseconds(long from, long to) => Seconds(from, to) * 1000;
}

/// <summary>Runs a command to completion, as the PostgreSQL OS user when this process is root.</summary>
internal static class Commands
{
    public static bool IsRoot => Environment.UserName == "root";

    public static Task<string> RunAsPostgresAsync(string command, params string[] arguments) =>
        IsRoot ? RunAsync("runuser", ["-u", "postgres", "--", command, .. arguments]) : RunAsync(command, arguments);

    public static async Task<string> RunAsync(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            // The postgres user must be able to enter the working directory.
            WorkingDirectory = "/",
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{command} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{command} {string.Join(' ', arguments)} did not finish within 120 s.");
        }

        var output = await stdout + await stderr;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{output}");
        }

        return output;
    }
}

/// <summary>
/// A PostgreSQL cluster of this test alone, which it may stop: initdb into a temporary folder owned by the
/// postgres user (as scripts/test-services.sh runs PostgreSQL as root), pg_ctl on a free loopback port.
/// </summary>
internal sealed class PrivatePostgres : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _folder;
    private bool _running;

    private readonly string? _namespace;
    private readonly string _listen;

    private PrivatePostgres(string bin, string folder, int port, string? networkNamespace, string listen)
    {
        _bin = bin;
        _folder = folder;
        Port = port;
        _namespace = networkNamespace;
        _listen = listen;
    }

    public int Port { get; }

    private string DataFolder => Path.Combine(_folder, "data");

    public string LogFile => Path.Combine(_folder, "server.log");

    public string ConnectionString =>
        $"Host={_listen};Port={Port};Username=postgres;Database=postgres;Timeout=5;Command Timeout=10";

    /// <summary>
    /// With <paramref name="networkNamespace"/>: the server runs in that namespace, listens on <paramref name="listen"/>
    /// and trusts clients of <paramref name="clients"/> (a CIDR inside the namespaces of the test).
    /// </summary>
    public static async Task<PrivatePostgres> StartAsync(string? networkNamespace = null, string listen = "127.0.0.1", string? clients = null)
    {
        var bin = FindBinaries();
        var folder = Path.Combine(Path.GetTempPath(), "shopastro-faults-pg-" + Guid.NewGuid().ToString("N")[..12]);
        if (Commands.IsRoot)
        {
            await Commands.RunAsPostgresAsync("mkdir", "-m", "700", folder);
        }
        else
        {
            Directory.CreateDirectory(folder);
        }

        var postgres = new PrivatePostgres(bin, folder, networkNamespace is null ? EdgeApiFactory.FreePort() : 5432, networkNamespace, listen);
        await Commands.RunAsPostgresAsync(Path.Combine(bin, "initdb"),
            "-D", postgres.DataFolder, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale");
        if (clients is not null)
        {
            await File.AppendAllTextAsync(Path.Combine(postgres.DataFolder, "pg_hba.conf"), $"host all all {clients} trust\n");
        }

        await postgres.StartServerAsync();
        return postgres;
    }

    /// <summary>pg_ctl start on the same data folder and port; returns when it accepts connections.</summary>
    public async Task StartServerAsync()
    {
        string[] start = [Path.Combine(_bin, "pg_ctl"), "-D", DataFolder, "-l", LogFile, "-w", "-t", "60",
            "-o", $"-k {_folder} -c listen_addresses={_listen} -p {Port} -c max_connections=200 -c fsync=off", "start"];
        await (_namespace is null
            ? Commands.RunAsPostgresAsync(start[0], start[1..])
            : Commands.RunAsync("ip", ["netns", "exec", _namespace, "runuser", "-u", "postgres", "--", .. start]));
        _running = true;
    }

    /// <summary>pg_ctl stop -m immediate: every backend is gone at once, as in a crash.</summary>
    public async Task StopImmediateAsync()
    {
        await Commands.RunAsPostgresAsync(Path.Combine(_bin, "pg_ctl"), "-D", DataFolder, "-m", "immediate", "-w", "-t", "30", "stop");
        _running = false;
    }

    public async ValueTask DisposeAsync()
    {
        if (_running)
        {
            try
            {
                await StopImmediateAsync();
            }
            catch (Exception)
            {
                // Best effort: the folder goes below, a postmaster without it exits by itself.
            }
        }

        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (Exception)
        {
            // A temp folder left behind is cleaned by the OS.
        }
    }

    private static string FindBinaries()
    {
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Version: decimal.TryParse(Path.GetFileName(d), System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : -1,
                    Bin: Path.Combine(d, "bin")))
                .Where(c => c.Version >= 0 && File.Exists(Path.Combine(c.Bin, "initdb")) && File.Exists(Path.Combine(c.Bin, "pg_ctl")))
                .OrderByDescending(c => c.Version)
                .ToList()
            : [];
        return candidates.Count > 0
            ? candidates[0].Bin
            : throw new InvalidOperationException(
                "No PostgreSQL server binaries under /usr/lib/postgresql/*/bin: the PostgreSQL outage test needs a server it may stop " +
                "(scripts/test-services.sh installs the postgresql package).");
    }
}

/// <summary>A redis-server of this test alone, a child process on a free loopback port, without persistence.</summary>
internal sealed class PrivateRedis : IAsyncDisposable
{
    private Process? _process;

    private readonly string? _namespace;
    private readonly string _listen;

    private PrivateRedis(string? networkNamespace, string listen)
    {
        _namespace = networkNamespace;
        _listen = listen;
        Port = networkNamespace is null ? EdgeApiFactory.FreePort() : 6379;
    }

    public int Port { get; }

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("shopastro-redis-");

    public string Address => $"{_listen}:{Port}";

    /// <summary>With <paramref name="networkNamespace"/>: the server runs in that namespace and listens on <paramref name="listen"/>.</summary>
    public static async Task<PrivateRedis> StartAsync(string? networkNamespace = null, string listen = "127.0.0.1")
    {
        var redis = new PrivateRedis(networkNamespace, listen);
        await redis.StartServerAsync();
        return redis;
    }

    public async Task StartServerAsync()
    {
        var start = new ProcessStartInfo(_namespace is null ? "redis-server" : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory.FullName,
        };
        // As deployed (docker-compose.yml): an append-only file, so a restarted Redis comes back with the
        // membership table. (Orleans' Redis membership cannot re-create a silo's row in an emptied Redis:
        // dotnet/orleans#7784.)
        string[] inNamespace = _namespace is null ? [] : ["netns", "exec", _namespace, "redis-server"];
        string[] arguments =
        [
            .. inNamespace,
            "--port", Port.ToString(), "--bind", _listen, "--protected-mode", "no", "--save", "", "--dir", _directory.FullName,
            "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
        ];
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new InvalidOperationException("redis-server is not on PATH: the Redis restart test needs one it may kill.", exception);
        }

        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await PingAsync())
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING (exited: {process.HasExited}).");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>SIGKILL, as a crash; returns when the process is gone.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    public async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(_listen, Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[7];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception exception) when (exception is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        _directory.Delete(recursive: true);
    }
}
