using System.Text.Json.Nodes;

namespace ShopAstro.LoadTests;

/// <summary>
/// Keeps the ceiling server's runtime settings equal to the edge's, so that the ratio compares the request work and
/// not the runtime configuration: the ceiling runs with <c>dotnet exec --runtimeconfig</c> on a runtimeconfig.json
/// holding the harness's frameworks and exactly the <c>System.*</c> configProperties of the published edge's
/// <c>ShopAstro.EdgeApi.runtimeconfig.json</c> (GC mode, thread-pool knobs, ...), and with the same <c>DOTNET_*</c>
/// environment variables as the edge.
/// </summary>
internal static class RuntimeKnobs
{
    /// <summary>The <c>System.*</c> configProperties of a published app's runtimeconfig.json.</summary>
    public static SortedDictionary<string, string> SystemProperties(string dll)
    {
        var properties = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var config = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(dll, ".runtimeconfig.json")));
        foreach (var (key, value) in config?["runtimeOptions"]?["configProperties"]?.AsObject() ?? [])
        {
            if (key.StartsWith("System.", StringComparison.Ordinal) && value is not null)
            {
                properties[key] = value.ToJsonString();
            }
        }

        return properties;
    }

    /// <summary>Writes the ceiling's runtimeconfig.json into <paramref name="folder"/> and returns its path.</summary>
    public static string CeilingRuntimeConfig(string harnessDll, string edgeDll, string folder)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(harnessDll, ".runtimeconfig.json")))!;
        var properties = new JsonObject();
        foreach (var (key, value) in SystemProperties(edgeDll))
        {
            properties[key] = JsonNode.Parse(value);
        }

        config["runtimeOptions"]!["configProperties"] = properties;
        var path = Path.Combine(folder, "ceiling.runtimeconfig.json");
        File.WriteAllText(path, config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>The runtime variables (<c>DOTNET_*</c>, <c>COMPlus_*</c>) of the edge's environment, for the ceiling's.</summary>
    public static Dictionary<string, string> RuntimeEnvironment(IReadOnlyDictionary<string, string> edgeEnvironment) =>
        edgeEnvironment.Where(e => e.Key.StartsWith("DOTNET_", StringComparison.Ordinal) || e.Key.StartsWith("COMPlus_", StringComparison.Ordinal))
            .ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

    public static string Describe(string dll) =>
        string.Join(", ", SystemProperties(dll).Where(p => !p.Key.StartsWith("System.Globalization", StringComparison.Ordinal)
                                                            && !p.Key.StartsWith("System.Reflection", StringComparison.Ordinal)
                                                            && !p.Key.StartsWith("System.Runtime.Serialization", StringComparison.Ordinal))
            .Select(p => $"{p.Key}={p.Value}"));
}
