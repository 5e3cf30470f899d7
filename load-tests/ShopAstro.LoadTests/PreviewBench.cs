using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace ShopAstro.LoadTests;

/// <summary>
/// The impact preview at scale (<c>POST .../policy/preview</c>): a store with <c>subjects</c> stored records on
/// PostgreSQL and on the embedded default's SQLite, previewed three times each. The records are copies of four real
/// ones written through the API (granted analytics; withdrawn analytics; granted recommendation; both granted), so
/// the expected counts are known. Reports the time in the cluster and at the client, and the edge process's CPU
/// (the rest of the wall time is the database).
/// </summary>
internal static class PreviewBench
{
    private const string AdminToken = "lt-preview-admin-7c1d";
    private const string Store = "p1";

    private static readonly string[] Templates = ["t-0-analytics", "t-1-withdrawn", "t-2-recommendation", "t-3-both"];

    public static async Task<int> RunAsync(string edgeDll, string postgresAdmin, long subjects, string output)
    {
        Directory.CreateDirectory(output);
        var results = new List<JsonObject>();
        var database = "shopastro_preview_" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        await using (var admin = new NpgsqlConnection(postgresAdmin))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", admin);
            await create.ExecuteNonQueryAsync();
        }

        try
        {
            var postgres = new NpgsqlConnectionStringBuilder(postgresAdmin) { Database = database }.ConnectionString;
            results.Add(await MeasureAsync("PostgreSQL", edgeDll, postgres, subjects, output,
                () => new NpgsqlConnection(postgres), "generate_series(0, @count - 1) AS s(i)", "i::text"));
            var sqliteFolder = Path.Combine(output, "sqlite");
            Directory.CreateDirectory(sqliteFolder);
            var sqlite = $"Data Source={Path.Combine(sqliteFolder, "consent.db")}";
            results.Add(await MeasureAsync("SQLite (embedded default)", edgeDll, sqlite, subjects, output,
                () => new SqliteConnection(sqlite + ";Default Timeout=300"),
                "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @count) SELECT i FROM n) AS s", "CAST(s.i AS TEXT)"));
            Directory.Delete(sqliteFolder, recursive: true);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(postgresAdmin);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }

        var report = new JsonObject { ["subjects"] = subjects, ["machine"] = $"{Environment.ProcessorCount} cores", ["runs"] = new JsonArray([.. results]) };
        await File.WriteAllTextAsync(Path.Combine(output, "preview.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        await File.WriteAllTextAsync(Path.Combine(output, "preview.md"), Markdown(subjects, results));
        Console.WriteLine(Markdown(subjects, results));
        return 0;
    }

    private static async Task<JsonObject> MeasureAsync(
        string name, string edgeDll, string consent, long subjects, string output, Func<DbConnection> connect, string series, string text)
    {
        var url = $"http://127.0.0.1:{ServiceProcess.FreePort()}";
        await using var edge = ServiceProcess.Start("edge", edgeDll, new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = url,
            ["ConnectionStrings__Consent"] = consent,
            ["Auth__Tokens__0__Token"] = AdminToken,
            ["Auth__Tokens__0__Role"] = "admin",
            ["Consent__AnonymisationKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Orleans__SiloPort"] = ServiceProcess.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = ServiceProcess.FreePort().ToString(CultureInfo.InvariantCulture),
        }, Path.Combine(output, $"edge-{(name.StartsWith("Postgre", StringComparison.Ordinal) ? "postgres" : "sqlite")}.log"));
        await edge.WaitForHttpAsync(url + "/health/ready", TimeSpan.FromSeconds(120));
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(10) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", AdminToken);
        await Expect(await http.PutAsync($"/v1/stores/{Store}/policy", RunContext.Json(
            """{"version":1,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}}""")));
        foreach (var (template, purposes) in Templates.Zip(new[]
        {
            """{"analytics":true}""", """{"analytics":false}""", """{"recommendation":true}""", """{"analytics":true,"recommendation":true}""",
        }))
        {
            await Expect(await http.PutAsync($"/v1/stores/{Store}/subjects/{template}/consents",
                RunContext.Json($$"""{"purposes":{{purposes}},"policyVersion":1,"source":"banner"}""")));
        }

        var seeding = Stopwatch.StartNew();
        await SeedAsync(connect, subjects, series, text);
        var seeded = seeding.Elapsed;
        Console.WriteLine($"{name}: {subjects:N0} records seeded in {seeded.TotalSeconds:0.0} s");

        // Analytics changes materially, recommendation is turned off.
        var draft = RunContext.Json("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":true},"recommendation":{"enabled":false,"materialChange":false}}}""");
        // Every i with i % 4 in {0, 3} grants analytics, and two of the templates do.
        var expectedAnalytics = subjects / 4 * 2 + (subjects % 4 >= 1 ? 1 : 0) + 2;
        var runs = new JsonArray();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var cpuBefore = ProcessCpuSeconds(edge.Pid);
            var watch = Stopwatch.StartNew();
            using var response = await http.PostAsync($"/v1/stores/{Store}/policy/preview", draft);
            var wall = watch.Elapsed;
            var cpu = ProcessCpuSeconds(edge.Pid) - cpuBefore;
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"preview answered {(int)response.StatusCode}: {body}");
            }

            var analytics = body["purposes"]!["analytics"]!["needReconsent"]!.GetValue<long>();
            var records = body["subjectsWithRecord"]!.GetValue<long>();
            runs.Add(new JsonObject
            {
                ["wallSeconds"] = Math.Round(wall.TotalSeconds, 2),
                ["clusterSeconds"] = Math.Round(body["durationMs"]!.GetValue<double>() / 1000, 2),
                ["edgeCpuSeconds"] = Math.Round(cpu, 2),
                ["records"] = records,
                ["analyticsNeedReconsent"] = analytics,
                ["recommendationLoseGrant"] = body["purposes"]!["recommendation"]!["loseGrant"]!.GetValue<long>(),
                ["countsAsExpected"] = records == subjects + Templates.Length && analytics == expectedAnalytics,
            });
            Console.WriteLine($"{name}: preview {attempt + 1}: {wall.TotalSeconds:0.00} s wall, {cpu:0.00} s edge CPU, {records:N0} records, {analytics:N0} need re-consent (expected {expectedAnalytics:N0})");
        }

        return new JsonObject { ["store"] = name, ["seedSeconds"] = Math.Round(seeded.TotalSeconds, 1), ["previews"] = runs };
    }

    /// <summary>Copies the four template rows to <paramref name="count"/> subjects of the store, inside the database.</summary>
    private static async Task SeedAsync(Func<DbConnection> connect, long count, string series, string text)
    {
        await using var connection = connect();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandTimeout = 0;
        command.CommandText = $"""
            INSERT INTO ConsentGrainState (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString,
                GrainIdHash, GrainTypeHash, PayloadBinary, Version, ModifiedOn)
            SELECT t.ServiceId, t.GrainTypeString, t.GrainIdN0, t.GrainIdN1, '{Store}/s' || {text},
                t.GrainIdHash, t.GrainTypeHash, t.PayloadBinary, t.Version, t.ModifiedOn
            FROM {series}
            JOIN (SELECT ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdHash, GrainTypeHash, PayloadBinary, Version, ModifiedOn,
                         CAST(substr(GrainIdExtensionString, {Store.Length + 4}, 1) AS INTEGER) AS n
                  FROM ConsentGrainState WHERE GrainTypeString = 'subject' AND substr(GrainIdExtensionString, 1, {Store.Length + 3}) = '{Store}/t-') t
              ON t.n = s.i % 4
            """;
        var parameter = command.CreateParameter();
        parameter.ParameterName = "count";
        parameter.Value = count;
        command.Parameters.Add(parameter);
        await command.ExecuteNonQueryAsync();
    }

    private static double ProcessCpuSeconds(int pid) =>
        (CpuSampler.ProcessTicks(pid) ?? throw new InvalidOperationException($"/proc/{pid}/stat could not be read")) / CpuSampler.TicksPerSecond;

    private static async Task Expect(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static string Markdown(long subjects, List<JsonObject> results)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# Impact preview at scale: {subjects:N0} stored records of one store");
        text.AppendLine();
        text.AppendLine("`load-tests/preview.sh` — `POST /v1/stores/p1/policy/preview` with a draft that changes analytics materially and turns recommendation off. Three previews in a row; the edge process hosts the silo (embedded), so its CPU is the cluster's; the rest of the wall time is the database.");
        text.AppendLine();
        text.AppendLine("| store | seeding (s) | preview | wall (s) | in the cluster (s) | edge CPU (s) | records | need re-consent (analytics) | counts right |");
        text.AppendLine("|---|--:|--:|--:|--:|--:|--:|--:|---|");
        foreach (var result in results)
        {
            var index = 0;
            foreach (var run in result["previews"]!.AsArray())
            {
                index++;
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {result["store"]} | {result["seedSeconds"]} | {index} | {run!["wallSeconds"]} | {run["clusterSeconds"]} | {run["edgeCpuSeconds"]} | {run["records"]!.GetValue<long>():N0} | {run["analyticsNeedReconsent"]!.GetValue<long>():N0} | {run["countsAsExpected"]} |");
            }
        }

        return text.ToString();
    }
}
