using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace ShopAstro.LoadTests;

/// <summary>The machine a run measured, and small process helpers.</summary>
internal static class MachineInfo
{
    internal static string DotnetTool(string name) =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", name);

    internal static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (Exception)
        {
            return "?";
        }
    }

    internal static async Task<Dictionary<string, string>> MachineAsync(RunOptions options)
    {
        var machine = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["cores"] = Environment.ProcessorCount.ToString(),
            ["cpu"] = Read("/proc/cpuinfo").Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?",
            ["memory"] = Read("/proc/meminfo").Split('\n').FirstOrDefault(l => l.StartsWith("MemTotal", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?",
            ["os"] = Read("/etc/os-release").Split('\n').FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?.Split('=', 2)[1].Trim('"') ?? RuntimeInformation.OSDescription,
            ["kernel"] = Read("/proc/sys/kernel/osrelease").Trim(),
            [".NET"] = RuntimeInformation.FrameworkDescription,
            ["silo GC"] = GcMode(options.SiloDll),
            ["edge GC"] = GcMode(options.EdgeDll),
            ["wrk"] = (await Tool("wrk", "-v")).Split('\n')[0].Trim(),
            ["redis"] = options.Redis,
        };
        if (machine["cpu"].Length < 12)
        {
            var flags = Read("/proc/cpuinfo").Split('\n').FirstOrDefault(l => l.StartsWith("cpu MHz", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
            machine["cpu"] += flags is null ? "" : $" ({flags} MHz)";
        }

        return machine;
    }

    internal static string GcMode(string dll)
    {
        var config = Path.ChangeExtension(dll, ".runtimeconfig.json");
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(config));
            var server = node?["runtimeOptions"]?["configProperties"]?["System.GC.Server"]?.GetValue<bool>() ?? false;
            return server ? "server" : "workstation";
        }
        catch (Exception)
        {
            return "?";
        }
    }

    internal static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception)
        {
            return "";
        }
    }

    internal static async Task<string> Tool(string tool, params string[] arguments)
    {
        try
        {
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in arguments)
            {
                start.ArgumentList.Add(a);
            }

            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return output;
        }
        catch (Exception)
        {
            return "?";
        }
    }
}
