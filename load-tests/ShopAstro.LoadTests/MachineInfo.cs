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
            ["silo GC"] = GcMode(options.SiloDll, options.Settings),
            ["edge GC"] = GcMode(options.EdgeDll, options.Settings),
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

    /// <summary>The GC mode of a published app: its runtimeconfig.json, unless the run's settings set it in the environment.</summary>
    internal static string GcMode(string dll, IReadOnlyList<KeyValuePair<string, string>>? settings = null)
    {
        string? Setting(string name) => settings?.LastOrDefault(s => s.Key == "DOTNET_" + name).Value;
        var config = Path.ChangeExtension(dll, ".runtimeconfig.json");
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(config));
            var properties = node?["runtimeOptions"]?["configProperties"];
            var server = Setting("gcServer") is { } gcServer ? gcServer == "1" : properties?["System.GC.Server"]?.GetValue<bool>() ?? false;
            // DATAS (the GC adapting its heap count at run time) is on by default with server GC since .NET 9.
            var datas = Setting("GCDynamicAdaptationMode") is { } mode ? (mode == "0" ? 0 : 1) : properties?["System.GC.DynamicAdaptationMode"]?.GetValue<int>() ?? 1;
            return !server ? "workstation" : datas == 0 ? "server, DATAS off" : "server, DATAS";
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
