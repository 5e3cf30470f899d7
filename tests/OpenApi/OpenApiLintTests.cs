using System.Diagnostics;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.OpenApi;

/// <summary>
/// The served document passes the Redocly CLI's recommended rules (tests/tools: @redocly/cli pinned in
/// package-lock.json, installed by scripts/test.sh with npm ci).
/// </summary>
[Collection(RunningEdgeCollection.Name)]
public sealed class OpenApiLintTests(RunningEdge edge, ITestOutputHelper output)
{
    public static string ToolsFolder => Path.Combine(ServiceProcess.RepositoryRoot, "tests", "tools");

    [Fact]
    public async Task Redocly_recommended_rules_report_no_error_and_no_warning_on_the_served_document()
    {
        var cli = Path.Combine(ToolsFolder, "node_modules", "@redocly", "cli", "bin", "cli.js");
        Assert.True(File.Exists(cli), $"{cli} is missing: scripts/test.sh installs it (npm ci in tests/tools).");
        var document = Path.Combine(Path.GetTempPath(), $"shopastro-openapi-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(document, edge.DocumentText);
        try
        {
            var (exitCode, stdout, stderr) = await RunAsync(
                "node", cli,
                "lint", document, "--config", Path.Combine(ToolsFolder, "redocly.yaml"), "--format=json");
            output.WriteLine(stdout);
            var report = JsonNode.Parse(stdout) ?? throw new InvalidOperationException($"No report (exit {exitCode}):\n{stderr}");
            var errors = report["totals"]!["errors"]!.GetValue<int>();
            var warnings = report["totals"]!["warnings"]!.GetValue<int>();
            output.WriteLine($"REDOCLY: {errors} errors, {warnings} warnings");
            Assert.True(errors == 0 && warnings == 0, $"redocly lint: {errors} errors, {warnings} warnings:\n{stdout}");
            Assert.Equal(0, exitCode);
        }
        finally
        {
            File.Delete(document);
        }
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // No usage report or update check: the machine reaches package registries only.
        start.Environment["REDOCLY_TELEMETRY"] = "off";
        start.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{command} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
