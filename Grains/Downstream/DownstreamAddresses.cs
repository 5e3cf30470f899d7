using System.Net;
using System.Net.Sockets;

namespace ShopAstro.Grains.Downstream;

/// <summary>
/// Where a seller's webhook may point: the public internet only, unless <see cref="DownstreamOptions.AllowPrivateNetworks"/>.
/// A seller must not make the silo call loopback, the cluster's private network or a cloud metadata address. Checked on
/// the address actually connected to (after DNS), so that a name that resolves inwards later is caught too.
/// </summary>
public static class DownstreamAddresses
{
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal || address.IsIPv6Multicast);
        }

        var b = address.GetAddressBytes();
        return !(b[0] == 10                                  // 10.0.0.0/8
            || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)     // 172.16.0.0/12
            || (b[0] == 192 && b[1] == 168)                  // 192.168.0.0/16
            || (b[0] == 169 && b[1] == 254)                  // link-local, cloud metadata
            || (b[0] == 100 && b[1] >= 64 && b[1] <= 127)    // carrier-grade NAT
            || b[0] == 0 || b[0] >= 224);                    // "this network", multicast, reserved
    }

    /// <summary>A URL whose host is an IP literal outside the public internet (names are checked when connecting).</summary>
    public static bool NamesPrivateAddress(Uri url) =>
        IPAddress.TryParse(url.IdnHost.Trim('[', ']'), out var address) && !IsPublic(address);

    /// <summary>Connects to the first public address the host resolves to; refuses if it has none.</summary>
    public static async ValueTask<Stream> ConnectPublicAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        var addresses = IPAddress.TryParse(endpoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken);
        var target = addresses.FirstOrDefault(IsPublic)
            ?? throw new PrivateAddressException($"{endpoint.Host} resolves to no public address (Downstream:AllowPrivateNetworks is off)");
        var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(target, endpoint.Port), cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The connection was refused here, not by the receiver.</summary>
    public sealed class PrivateAddressException(string message) : IOException(message);
}
