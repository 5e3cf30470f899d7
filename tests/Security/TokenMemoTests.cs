using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using ShopAstro.EdgeApi.Auth;

namespace ShopAstro.Tests.Security;

/// <summary>A connection remembers the token it presented last; nothing else ever gets that token's grant.</summary>
public sealed class TokenMemoTests
{
    private static readonly TokenRegistry Registry = new([
        ("memo-admin-token-0123456789", new TokenGrant("admin", ["*"])),
        ("memo-storefront-token-012345", new TokenGrant("storefront", ["s1"])),
    ]);

    [Fact]
    public void A_connection_gets_the_grant_of_the_token_it_presents_whatever_it_presented_before()
    {
        var connection = new ConnectionItems();
        var sequence = new[]
        {
            "memo-admin-token-0123456789", "memo-admin-token-0123456789", "memo-storefront-token-012345",
            "memo-admin-token-012345678X", "memo-admin-token-0123456789", "memo-admin-token-01234567890",
            "memo-admin-token-012345678", "memo-storefront-token-012345", "memo-storefront-token-012345",
        };
        foreach (var token in sequence)
        {
            Assert.Equal(Registry.Find(token)?.Role, Registry.Find(Request(connection, "HTTP/1.1"), token)?.Role);
        }

        Assert.Equal("admin", Registry.Find("memo-admin-token-0123456789")?.Role);
        Assert.Null(Registry.Find("memo-admin-token-012345678X"));
        Assert.Single(connection.Items);
    }

    [Fact]
    public void Only_http1_connections_remember_a_token_their_concurrent_streams_would_share()
    {
        var http2 = new ConnectionItems();
        Assert.Equal("admin", Registry.Find(Request(http2, "HTTP/2"), "memo-admin-token-0123456789")?.Role);
        Assert.Empty(http2.Items);

        var http1 = new ConnectionItems();
        Assert.Equal("admin", Registry.Find(Request(http1, "HTTP/1.1"), "memo-admin-token-0123456789")?.Role);
        Assert.Single(http1.Items);
    }

    private static DefaultHttpContext Request(ConnectionItems connection, string protocol)
    {
        var context = new DefaultHttpContext();
        context.Request.Protocol = protocol;
        context.Features.Set<IConnectionItemsFeature>(connection);
        return context;
    }

    private sealed class ConnectionItems : IConnectionItemsFeature
    {
        public IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
    }
}
