using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Integration;

/// <summary>
/// The deployment artefacts: <c>scripts/topology.sh</c> (two silos and two edge APIs on loopback) really
/// serves the contract across edges, and <c>docker-compose.yml</c> is a valid Compose file with the
/// production shape.
/// </summary>
public sealed partial class TopologyScriptTests
{
    private static readonly string[] ComposeServices = ["postgres", "redis", "silo1", "silo2", "edge1", "edge2", "lb", "prometheus"];
    private static readonly string[] AppServices = ["silo1", "silo2", "edge1", "edge2"];

    private static string Repo => ServiceProcess.RepositoryRoot;

    private static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    [Fact]
    public async Task Topology_script_starts_two_silos_and_two_edges_that_share_one_cluster()
    {
        // Never skipped: the script's PostgreSQL and Redis are those of scripts/test-services.sh.
        var postgres = Environment.GetEnvironmentVariable("SHOPASTRO_TEST_PG");
        if (string.IsNullOrWhiteSpace(postgres))
        {
            throw new InvalidOperationException(
                "SHOPASTRO_TEST_PG is not set. Run the tests with scripts/test.sh, which starts PostgreSQL, or point SHOPASTRO_TEST_PG at a server.");
        }

        ServiceProcess.RedisOrFail();

        // A state folder of its own: a developer's running topology (.topology/) is left alone.
        var state = Path.Combine(Path.GetTempPath(), "shopastro-topology-test-" + Guid.NewGuid().ToString("N")[..8]);
        var environment = new Dictionary<string, string?>
        {
            ["SHOPASTRO_TOPOLOGY_STATE"] = state,
            // The build output this test run already has (the test project references EdgeApi and Silo).
            ["SHOPASTRO_TOPOLOGY_CONFIG"] = ServiceProcess.BuildConfiguration,
            ["SHOPASTRO_TOPOLOGY_NO_BUILD"] = "1",
            ["SHOPASTRO_TOPOLOGY_PG"] = null,
            ["SHOPASTRO_TOPOLOGY_REDIS"] = null,
        };

        try
        {
            var start = await RunAsync("bash", [Path.Combine(Repo, "scripts", "topology.sh"), "start"], environment, TimeSpan.FromMinutes(5));
            Assert.True(start.ExitCode == 0, $"topology.sh start failed:\n{start}\n{Logs(state)}");
            var exports = ParseExports(start.StandardOutput);
            Assert.True(exports.ContainsKey("SHOPASTRO_TOPOLOGY_EDGE1") && exports.ContainsKey("SHOPASTRO_TOPOLOGY_EDGE2")
                && exports.ContainsKey("SHOPASTRO_TOPOLOGY_TOKEN"), $"Missing env lines on stdout:\n{start}");
            Assert.NotEqual(exports["SHOPASTRO_TOPOLOGY_EDGE1"], exports["SHOPASTRO_TOPOLOGY_EDGE2"]);

            var status = await RunAsync("bash", [Path.Combine(Repo, "scripts", "topology.sh"), "status"], environment, TimeSpan.FromMinutes(1));
            Assert.True(status.ExitCode == 0, $"topology.sh status while running:\n{status}");

            // A fresh store per run: the database shopastro_topology is kept between runs.
            var store = "topo" + Guid.NewGuid().ToString("N")[..10];
            using var edge1 = Client(exports["SHOPASTRO_TOPOLOGY_EDGE1"], exports["SHOPASTRO_TOPOLOGY_TOKEN"]);
            using var edge2 = Client(exports["SHOPASTRO_TOPOLOGY_EDGE2"], exports["SHOPASTRO_TOPOLOGY_TOKEN"]);
            await (await edge1.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
            await (await edge1.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();

            Assert.Equal((true, "granted"), await edge2.DecideAsync(store, "u1", "analytics"));
            Assert.False((await edge2.DecideAsync(store, "u2", "analytics")).Allowed);

            // And the other way round: a withdrawal on edge 2 is what edge 1 decides on.
            await (await edge2.SetConsentAsync(store, "u1", "analytics", false, source: "account_settings")).ShouldBeOkAsync();
            Assert.Equal((false, "withdrawn"), await edge1.DecideAsync(store, "u1", "analytics"));
        }
        finally
        {
            var stop = await RunAsync("bash", [Path.Combine(Repo, "scripts", "topology.sh"), "stop"], environment, TimeSpan.FromMinutes(2));
            var again = await RunAsync("bash", [Path.Combine(Repo, "scripts", "topology.sh"), "stop"], environment, TimeSpan.FromMinutes(2));
            var status = await RunAsync("bash", [Path.Combine(Repo, "scripts", "topology.sh"), "status"], environment, TimeSpan.FromMinutes(1));
            try
            {
                Directory.Delete(state, recursive: true);
            }
            catch (IOException)
            {
            }

            Assert.True(stop.ExitCode == 0, $"topology.sh stop failed:\n{stop}");
            Assert.True(again.ExitCode == 0, $"topology.sh stop is not idempotent:\n{again}");
            Assert.True(status.ExitCode != 0, $"topology.sh status after stop still reports processes:\n{status}");
        }
    }

    [Fact]
    public async Task Compose_file_is_valid_and_has_the_production_shape()
    {
        var composeFile = Path.Combine(Repo, "docker-compose.yml");
        Assert.True(File.Exists(composeFile), "docker-compose.yml is missing");
        foreach (var file in new[] { "deploy/silo.Dockerfile", "deploy/edge.Dockerfile", "deploy/nginx.conf", "deploy/prometheus.yml", "deploy/.env.example" })
        {
            Assert.True(File.Exists(Path.Combine(Repo, file)), $"{file} is missing");
        }

        // The images run as the .NET images' non-root app user, and never switch back.
        foreach (var dockerfile in new[] { "deploy/silo.Dockerfile", "deploy/edge.Dockerfile" })
        {
            var text = await File.ReadAllTextAsync(Path.Combine(Repo, dockerfile));
            var users = UserLine().Matches(text).Select(match => match.Groups[1].Value.Trim()).ToList();
            Assert.True(users.Count > 0 && users[^1] == "$APP_UID", $"{dockerfile} must end with USER $APP_UID (found: {string.Join(", ", users)})");
            Assert.Contains("mcr.microsoft.com/dotnet/sdk:10.0", text, StringComparison.Ordinal);
        }

        var nginx = await File.ReadAllTextAsync(Path.Combine(Repo, "deploy/nginx.conf"));
        Assert.Contains("location /hubs/", nginx, StringComparison.Ordinal);
        Assert.Contains("proxy_set_header Upgrade $http_upgrade", nginx, StringComparison.Ordinal);
        var prometheus = await File.ReadAllTextAsync(Path.Combine(Repo, "deploy/prometheus.yml"));
        Assert.Contains("edge1:8080", prometheus, StringComparison.Ordinal);
        Assert.Contains("edge2:8080", prometheus, StringComparison.Ordinal);

        // The anonymisation key and the admin token fail closed: every use is ${VAR:?message}, never a default.
        var composeText = await File.ReadAllTextAsync(composeFile);
        foreach (var secret in new[] { "SHOPASTRO_ANONYMISATION_KEY", "SHOPASTRO_ADMIN_TOKEN" })
        {
            var uses = Regex.Matches(composeText, @"\$\{" + secret + @"([^}]*)\}");
            Assert.NotEmpty(uses);
            Assert.All(uses, use => Assert.True(use.Groups[1].Value.StartsWith(":?", StringComparison.Ordinal), $"{use.Value} has a fallback"));
        }

        var compose = FindOnPath("docker-compose");
        if (compose is null)
        {
            Assert.False(InCi, "docker-compose is not installed (scripts/test-services.sh installs it); CI must check the compose file.");
            return; // A developer machine without it: the static checks above are all that can be done.
        }

        // Without any .env, and with the documented example as it is, Compose refuses: the anonymisation key and the
        // admin token have no fallback. With both set it accepts the file (every other ${VAR:-default} applies).
        var empty = Path.Combine(Path.GetTempPath(), "shopastro-empty-" + Guid.NewGuid().ToString("N")[..8] + ".env");
        var secrets = Path.Combine(Path.GetTempPath(), "shopastro-secrets-" + Guid.NewGuid().ToString("N")[..8] + ".env");
        var keyOnly = Path.Combine(Path.GetTempPath(), "shopastro-key-" + Guid.NewGuid().ToString("N")[..8] + ".env");
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        await File.WriteAllTextAsync(empty, "");
        await File.WriteAllTextAsync(secrets, $"SHOPASTRO_ANONYMISATION_KEY={key}\nSHOPASTRO_ADMIN_TOKEN=sa_test_compose_token_7c1d\n");
        await File.WriteAllTextAsync(keyOnly, $"SHOPASTRO_ANONYMISATION_KEY={key}\n");
        try
        {
            foreach (var (envFile, missing) in new[]
            {
                (empty, "SHOPASTRO_ANONYMISATION_KEY"),
                (Path.Combine(Repo, "deploy", ".env.example"), "SHOPASTRO_ANONYMISATION_KEY"),
                (keyOnly, "SHOPASTRO_ADMIN_TOKEN"),
            })
            {
                var refused = await RunAsync(compose, ["-f", composeFile, "--env-file", envFile, "config", "-q"], Isolated(), TimeSpan.FromMinutes(1));
                Assert.True(refused.ExitCode != 0, $"docker-compose config -q (env file {envFile}) accepted a configuration without {missing}:\n{refused}");
                Assert.Contains(missing, refused.StandardError + refused.StandardOutput, StringComparison.Ordinal);
            }

            var check = await RunAsync(compose, ["-f", composeFile, "--env-file", secrets, "config", "-q"], Isolated(), TimeSpan.FromMinutes(1));
            Assert.True(check.ExitCode == 0, $"docker-compose config -q with both secrets failed:\n{check}");

            var services = await RunAsync(compose, ["-f", composeFile, "--env-file", secrets, "config", "--services"], Isolated(), TimeSpan.FromMinutes(1));
            Assert.True(services.ExitCode == 0, services.ToString());
            var names = services.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
            foreach (var service in ComposeServices)
            {
                Assert.True(names.Contains(service), $"Service {service} missing from docker-compose.yml (has: {string.Join(", ", names)})");
            }

            var config = await RunAsync(compose, ["-f", composeFile, "--env-file", secrets, "config"], Isolated(), TimeSpan.FromMinutes(1));
            Assert.True(config.ExitCode == 0, config.ToString());
            Assert.Contains(key, config.StandardOutput, StringComparison.Ordinal);
            Assert.DoesNotContain("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", config.StandardOutput, StringComparison.Ordinal);
            Assert.DoesNotContain("change-me-admin-token", config.StandardOutput, StringComparison.Ordinal);
            var sections = ServiceSections(config.StandardOutput);

            Assert.Matches(@"appendonly[\s""'-]*yes", sections["redis"]);
            foreach (var service in AppServices)
            {
                var section = sections[service];
                var user = UserKey().Match(section);
                Assert.True(user.Success, $"{service} has no user: (it must not run as root)\n{section}");
                var uid = user.Groups[1].Value.Trim().Trim('\'', '"').Split(':')[0];
                Assert.False(uid is "" or "0" or "root", $"{service} runs as root (user: {uid})");
                Assert.Contains("healthcheck:", section, StringComparison.Ordinal);
                Assert.Contains("condition: service_healthy", section, StringComparison.Ordinal);
            }

            foreach (var service in new[] { "postgres", "redis", "lb" })
            {
                Assert.Contains("healthcheck:", sections[service], StringComparison.Ordinal);
            }

            // Each silo advertises the fixed address it has on the network, on ports of its own.
            var silo1 = SiloAddress(sections["silo1"]);
            var silo2 = SiloAddress(sections["silo2"]);
            Assert.NotEqual(silo1, silo2);
        }
        finally
        {
            File.Delete(empty);
            File.Delete(secrets);
            File.Delete(keyOnly);
        }
    }

    /// <summary>(advertised IP, silo port, gateway port), checking the IP is the container's fixed address.</summary>
    private static (string Ip, string SiloPort, string GatewayPort) SiloAddress(string section)
    {
        string Value(string key)
        {
            var match = Regex.Match(section, $@"^\s*{Regex.Escape(key)}:\s*['""]?([^'""\s]+)", RegexOptions.Multiline);
            Assert.True(match.Success, $"{key} missing:\n{section}");
            return match.Groups[1].Value;
        }

        var ip = Value("Orleans__AdvertisedIP");
        Assert.Equal(ip, Value("ipv4_address"));
        return (ip, Value("Orleans__SiloPort"), Value("Orleans__GatewayPort"));
    }

    /// <summary>The normalized `config` output cut into one block of text per service.</summary>
    private static Dictionary<string, string> ServiceSections(string yaml)
    {
        var sections = new Dictionary<string, string>();
        var inServices = false;
        string? current = null;
        var text = new StringBuilder();
        foreach (var line in yaml.Split('\n'))
        {
            if (!line.StartsWith(' ') && line.Length > 0)
            {
                Flush();
                inServices = line.TrimEnd() == "services:";
                continue;
            }

            if (!inServices)
            {
                continue;
            }

            var name = ServiceHeader().Match(line);
            if (name.Success)
            {
                Flush();
                current = name.Groups[1].Value;
                continue;
            }

            text.AppendLine(line);
        }

        Flush();
        return sections;

        void Flush()
        {
            if (current is not null)
            {
                sections[current] = text.ToString();
            }

            current = null;
            text.Clear();
        }
    }

    private static Dictionary<string, string> ParseExports(string output)
    {
        var values = new Dictionary<string, string>();
        foreach (var line in output.Split('\n'))
        {
            var match = ExportLine().Match(line.Trim());
            if (match.Success)
            {
                values[match.Groups[1].Value] = match.Groups[2].Value;
            }
        }

        return values;
    }

    private static HttpClient Client(string url, string token)
    {
        var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static string Logs(string state)
    {
        if (!Directory.Exists(state))
        {
            return "";
        }

        var text = new StringBuilder();
        foreach (var log in Directory.GetFiles(state, "*.log"))
        {
            var lines = File.ReadAllLines(log);
            text.AppendLine($"---- {Path.GetFileName(log)} (last 40 lines) ----");
            foreach (var line in lines.Skip(Math.Max(0, lines.Length - 40)))
            {
                text.AppendLine(line);
            }
        }

        return text.ToString();
    }

    /// <summary>Compose must not read a developer's own .env or COMPOSE_* settings.</summary>
    private static Dictionary<string, string?> Isolated()
    {
        var environment = new Dictionary<string, string?>();
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            if (key.StartsWith("COMPOSE_", StringComparison.Ordinal) || key.StartsWith("SHOPASTRO_", StringComparison.Ordinal)
                || key.StartsWith("POSTGRES_", StringComparison.Ordinal) || key.StartsWith("GRAFANA_", StringComparison.Ordinal)
                || key == "PROMETHEUS_PORT")
            {
                environment[key] = null;
            }
        }

        return environment;
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);

    private sealed record Result(int ExitCode, string StandardOutput, string StandardError)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
    }

    private static async Task<Result> RunAsync(string program, string[] arguments, IReadOnlyDictionary<string, string?> environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Repo,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        start.Environment.Remove("DOTNET_ENVIRONMENT");
        foreach (var (key, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {timeout}:\n{await stderr}");
        }

        // The output pipes close when the script exits: the processes it leaves running write to log files only.
        var output = await stdout.WaitAsync(TimeSpan.FromSeconds(30));
        var error = await stderr.WaitAsync(TimeSpan.FromSeconds(30));
        return new Result(process.ExitCode, output, error);
    }

    [GeneratedRegex(@"^\s*USER\s+(.+?)\s*$", RegexOptions.Multiline)]
    private static partial Regex UserLine();

    [GeneratedRegex(@"^    user:\s*(.+)$", RegexOptions.Multiline)]
    private static partial Regex UserKey();

    [GeneratedRegex(@"^  ([A-Za-z0-9._-]+):\s*$")]
    private static partial Regex ServiceHeader();

    [GeneratedRegex(@"^(?:export\s+)?([A-Z0-9_]+)='?([^']*)'?$")]
    private static partial Regex ExportLine();
}
