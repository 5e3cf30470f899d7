using ShopAstro.Tests.Faults;

namespace ShopAstro.Tests.Coherence.History;

/// <summary>
/// Network namespaces of one test run (root only): a hub namespace that routes between one namespace per node
/// (a silo, an edge, the databases), each joined to the hub by a veth pair on a /24 of its own, and the test
/// process's namespace joined the same way so that it can reach the edges. Partitions are nftables drops in the
/// hub's forward chain. Every address is in 10.X.0.0/16 inside these namespaces; nothing is changed outside
/// them except one veth pair and a route for that /16 in the test's namespace, both removed on dispose.
/// </summary>
internal sealed class NetworkLab : IAsyncDisposable
{
    private readonly string _id = Guid.NewGuid().ToString("N")[..4];
    private readonly int _net = 200 + Random.Shared.Next(50);
    private readonly List<Node> _nodes = [];
    private bool _rootLinked;

    public sealed record Node(string Name, string Namespace, string Address);

    private string Hub => $"sa{_id}hub";

    private string Net => $"10.{_net}";

    public static async Task<NetworkLab> CreateAsync()
    {
        var lab = new NetworkLab();
        try
        {
            await lab.CreateHubAsync();
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }

        return lab;
    }

    private async Task CreateHubAsync()
    {
        await Ip("netns", "add", Hub);
        await InHub("ip", "link", "set", "lo", "up");
        // Forwarding inside the hub only: the namespace of the test is left as it is.
        await InHub("sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        await InHub("nft", "add", "table", "inet", "lab");
        await InHub("nft", "add", "chain", "inet", "lab", "forward", "{ type filter hook forward priority 0; policy accept; }");

        // The test's own namespace: subnet 0.
        var (hubSide, otherSide) = Veth(0);
        await Ip("link", "add", otherSide, "type", "veth", "peer", "name", hubSide);
        _rootLinked = true;
        await Ip("link", "set", hubSide, "netns", Hub);
        await InHub("ip", "addr", "add", $"{Net}.0.1/24", "dev", hubSide);
        await InHub("ip", "link", "set", hubSide, "up");
        await Ip("addr", "add", $"{Net}.0.2/24", "dev", otherSide);
        await Ip("link", "set", otherSide, "up");
        await Ip("route", "add", $"{Net}.0.0/16", "via", $"{Net}.0.1");
    }

    /// <summary>A new namespace for one node, routed through the hub.</summary>
    public async Task<Node> AddAsync(string name)
    {
        var index = _nodes.Count + 1;
        var node = new Node(name, $"sa{_id}{name}", $"{Net}.{index}.2");
        _nodes.Add(node);
        var (hubSide, nodeSide) = Veth(index);
        await Ip("netns", "add", node.Namespace);
        // No name server is reachable from the lab: a local resolver that answers "no" at once (ip netns exec puts
        // this file over /etc/resolv.conf), instead of lookups that hang for seconds inside the processes.
        Directory.CreateDirectory(ResolverFolder(node));
        await File.WriteAllTextAsync(Path.Combine(ResolverFolder(node), "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
        await Ip("link", "add", nodeSide, "type", "veth", "peer", "name", hubSide);
        await Ip("link", "set", hubSide, "netns", Hub);
        await Ip("link", "set", nodeSide, "netns", node.Namespace);
        await InHub("ip", "addr", "add", $"{Net}.{index}.1/24", "dev", hubSide);
        await InHub("ip", "link", "set", hubSide, "up");
        await In(node, "ip", "link", "set", "lo", "up");
        await In(node, "ip", "addr", "add", $"{node.Address}/24", "dev", nodeSide);
        await In(node, "ip", "link", "set", nodeSide, "up");
        await In(node, "ip", "route", "add", "default", "via", $"{Net}.{index}.1");
        return node;
    }

    /// <summary>Every address of the lab, for the databases' allow lists.</summary>
    public string Cidr => $"{Net}.0.0/16";

    /// <summary>Packets between the two nodes are dropped, both ways, until <see cref="HealAsync"/>.</summary>
    public async Task PartitionAsync(Node a, Node b)
    {
        await InHub("nft", "add", "rule", "inet", "lab", "forward", "ip", "saddr", a.Address, "ip", "daddr", b.Address, "drop");
        await InHub("nft", "add", "rule", "inet", "lab", "forward", "ip", "saddr", b.Address, "ip", "daddr", a.Address, "drop");
    }

    public Task HealAsync() => InHub("nft", "flush", "chain", "inet", "lab", "forward");

    private static string ResolverFolder(Node node) => Path.Combine("/etc/netns", node.Namespace);

    private (string Hub, string Other) Veth(int index) => ($"v{_id}{index:D2}h", $"v{_id}{index:D2}n");

    private static Task<string> Ip(params string[] arguments) => Commands.RunAsync("ip", arguments);

    private Task<string> InHub(params string[] command) => Ip(["netns", "exec", Hub, .. command]);

    private static Task<string> In(Node node, params string[] command) => Ip(["netns", "exec", node.Namespace, .. command]);

    public async ValueTask DisposeAsync()
    {
        if (_rootLinked)
        {
            await Quietly(() => Ip("route", "del", $"{Net}.0.0/16"));
            await Quietly(() => Ip("link", "del", Veth(0).Other));
        }

        // Deleting a namespace deletes its end of each veth pair, and with it the other end.
        foreach (var node in _nodes)
        {
            await Quietly(() => Ip("netns", "del", node.Namespace));
            await Quietly(() =>
            {
                Directory.Delete(ResolverFolder(node), recursive: true);
                return Task.CompletedTask;
            });
        }

        await Quietly(() => Ip("netns", "del", Hub));
    }

    private static async Task Quietly(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (Exception)
        {
            // Best effort: what is left is named after this run and goes with the next reboot.
        }
    }
}
