using System.Net;
using System.Net.Sockets;

namespace ShopAstro.Tests.Infrastructure;

/// <summary>
/// Listening ports for the servers a test starts (Kestrel, a silo's silo and gateway ports, a Redis), and those the load
/// test starts (load-tests/ links this file).
/// <para>
/// A port that the kernel picked for a listener bound to port 0 and then released comes from the ephemeral range, the
/// range every outgoing connection of the machine also takes its local port from: under the suite's load (thousands of
/// loopback connections) one of them can take the port before the server the test started binds it, and that server
/// then stops at start-up (an edge: "address already in use", an unhandled exception, exit 134). These ports come from
/// below the ephemeral range, where no outgoing connection is given a port, each handed out once per test run and
/// checked free when handed out.
/// </para>
/// </summary>
public static class TestPorts
{
    private const int First = 20_000;

    private static readonly int End = EphemeralRangeStart();
    private static int _next = First + Random.Shared.Next(Math.Max(1, End - First));
    private static int _tried;

    /// <summary>A port no server of this machine listens on, outside the ephemeral range, not handed out before in this run.</summary>
    public static int Next()
    {
        if (End - First < 100)
        {
            return KernelPicked();
        }

        // Each port of the range is tried once per run at most: one found taken is not tried again, one handed out not reused.
        while (Interlocked.Increment(ref _tried) <= End - First)
        {
            var port = First + ((Interlocked.Increment(ref _next) - First) % (End - First));
            if (IsFree(port))
            {
                return port;
            }
        }

        throw new InvalidOperationException($"Every port from {First} to {End - 1} was tried in this test run.");
    }

    /// <summary>The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range).</summary>
    public static int EphemeralRangeStart()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            // The IANA dynamic range, which Windows and macOS use.
            return 49_152;
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            // Any address: free there means free on loopback too, whatever address the server binds.
            using var listener = new TcpListener(IPAddress.Any, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int KernelPicked()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
