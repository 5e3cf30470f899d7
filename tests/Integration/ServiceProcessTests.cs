using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Integration;

/// <summary>
/// What the tests that start the silo and the edge as processes rely on: ports no outgoing connection can take from
/// under them, and a process that dies at start-up saying why (its output read to the end, and a crash report).
/// </summary>
public sealed class ServiceProcessTests
{
    [Fact]
    public void Test_ports_come_from_below_the_ephemeral_range_once_each_and_free()
    {
        var ephemeral = TestPorts.EphemeralRangeStart();
        var ports = Enumerable.Range(0, 200).Select(_ => TestPorts.Next()).ToList();

        Assert.All(ports, port => Assert.InRange(port, 1024, ephemeral - 1));
        Assert.Equal(ports.Count, ports.Distinct().Count());
        foreach (var port in ports.Take(20))
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
        }
    }

    [Fact]
    public async Task An_edge_that_dies_at_start_up_says_why_and_leaves_a_crash_report()
    {
        var folder = Directory.CreateTempSubdirectory("shopastro-crash-");
        // The edge's port is taken: Kestrel cannot bind it, the host's start throws, the runtime aborts (exit 134).
        var port = TestPorts.Next();
        using var taken = new TcpListener(IPAddress.Loopback, port);
        taken.Start();
        var pid = 0;
        try
        {
            await using var edge = ServiceProcess.Start("EdgeApi", new Dictionary<string, string>
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["ConnectionStrings__Consent"] = $"Data Source={Path.Combine(folder.FullName, "consent.db")}",
                ["Orleans__SiloPort"] = TestPorts.Next().ToString(),
                ["Orleans__GatewayPort"] = TestPorts.Next().ToString(),
                ["Auth__Tokens__0__Token"] = "crash-admin",
                ["Auth__Tokens__0__Role"] = "admin",
            });
            pid = edge.Id;

            var failure = await Assert.ThrowsAsync<InvalidOperationException>(
                () => edge.WaitForHttpAsync($"http://127.0.0.1:{port}/health/live", TimeSpan.FromSeconds(90)));

            Assert.Contains("exited with 134 (signal 6, SIGABRT", failure.Message);
            Assert.Contains("address already in use", failure.Message);
            var report = Directory.GetFiles(ServiceProcess.CrashDumps, $"EdgeApi-{edge.Id}.dmp.crashreport.json");
            Assert.Single(report);
            Assert.Contains(report[0], failure.Message);
            using var json = JsonDocument.Parse(await File.ReadAllTextAsync(report[0]));
            var crashed = json.RootElement.GetProperty("payload").GetProperty("threads").EnumerateArray()
                .Single(thread => thread.GetProperty("crashed").GetString() == "true");
            Assert.Equal("System.IO.IOException", crashed.GetProperty("managed_exception_type").GetString());
        }
        finally
        {
            folder.Delete(recursive: true);
            // This crash was the point: its 30 MB dump is not kept. Other processes' reports stay for the failures they explain.
            foreach (var file in Directory.GetFiles(ServiceProcess.CrashDumps, $"EdgeApi-{pid}.dmp*"))
            {
                File.Delete(file);
            }
        }
    }
}
