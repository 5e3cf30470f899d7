using System.Runtime.InteropServices;
using System.Security.Claims;
using Microsoft.AspNetCore.Connections.Features;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication;
using System.Text;

namespace ShopAstro.EdgeApi.Auth;

/// <param name="Id">Names the token in rate limiting without revealing it (its position in the configuration).</param>
public sealed record TokenGrant(string Role, IReadOnlyList<string> Stores, string Id = "")
{
    private AuthenticateResult? _authenticated;

    /// <summary>
    /// The successful authentication of this token, built once: every request with it shares the principal,
    /// which nothing modifies.
    /// </summary>
    public AuthenticateResult Authenticated => _authenticated ??= Authenticate();

    public bool HasAnyRole(string[] roles) => Array.IndexOf(roles, Role) >= 0;

    /// <summary>Whether this token may act on the store (see <see cref="StoreScopeHandler"/>).</summary>
    public bool Covers(ReadOnlySpan<char> storeId) => StoreScopeHandler.Covers(Stores, storeId);

    private AuthenticateResult Authenticate()
    {
        var claims = new List<Claim>(Stores.Count + 2) { new(ClaimTypes.Role, Role), new(EdgePolicies.TokenIdClaim, Id) };
        foreach (var store in Stores)
        {
            claims.Add(new Claim(EdgePolicies.StoreClaim, store));
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, BearerTokenHandler.SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, BearerTokenHandler.SchemeName));
    }
}

/// <summary>
/// The configured bearer tokens (<c>Auth:Tokens:N:Token</c>, <c>:Role</c>, <c>:Stores:M</c>). Only their
/// SHA-256 digests are kept; a presented token is compared against every digest in constant time.
/// </summary>
public sealed class TokenRegistry
{
    private readonly (byte[] Digest, TokenGrant Grant)[] _tokens;

    public TokenRegistry(IEnumerable<(string Token, TokenGrant Grant)> tokens)
    {
        _tokens = tokens.Select((t, index) => (Digest(t.Token), t.Grant with { Id = "token-" + index })).ToArray();
    }

    public int Count => _tokens.Length;

    public IEnumerable<TokenGrant> Grants => _tokens.Select(t => t.Grant);

    /// <summary>
    /// <see cref="Find(ReadOnlySpan{char})"/>, remembered for the request's connection: a client sends the same token on
    /// every request of a kept-alive connection, and hashing it each time was about 3 % of the edge's CPU on the
    /// single-check path. The presented token is compared in full (in constant time) with the one this connection
    /// presented before, a value the client itself sent, never with a configured secret; any other token is looked up
    /// as usual and remembered in its place. Only HTTP/1.x connections remember: their requests come one after another,
    /// while the streams of an HTTP/2 or HTTP/3 connection run at once.
    /// </summary>
    public TokenGrant? Find(HttpContext context, ReadOnlySpan<char> token)
    {
        if (token.IsEmpty || !(HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
            || context.Features.Get<IConnectionItemsFeature>()?.Items is not { } items)
        {
            return Find(token);
        }

        if (items.TryGetValue(typeof(LastToken), out var value) && value is LastToken last && last.Registry == this
            && CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(last.Token.AsSpan()), MemoryMarshal.AsBytes(token)))
        {
            return last.Grant;
        }

        var grant = Find(token);
        items[typeof(LastToken)] = new LastToken(this, token.ToString(), grant);
        return grant;
    }

    private sealed record LastToken(TokenRegistry Registry, string Token, TokenGrant? Grant);

    public TokenGrant? Find(ReadOnlySpan<char> token)
    {
        Span<byte> presented = stackalloc byte[SHA256.HashSizeInBytes];
        Span<byte> utf8 = token.Length <= 512 ? stackalloc byte[Encoding.UTF8.GetMaxByteCount(token.Length)] : new byte[Encoding.UTF8.GetMaxByteCount(token.Length)];
        var written = Encoding.UTF8.GetBytes(token, utf8);
        SHA256.HashData(utf8[..written], presented);

        TokenGrant? found = null;
        foreach (var (digest, grant) in _tokens)
        {
            // No early exit: the time taken does not tell which token, or how much of one, matched.
            if (CryptographicOperations.FixedTimeEquals(digest, presented))
            {
                found = grant;
            }
        }

        return found;
    }

    public static TokenRegistry FromConfiguration(IConfiguration configuration)
    {
        var tokens = new List<(string, TokenGrant)>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in configuration.GetSection("Auth:Tokens").GetChildren())
        {
            var token = entry["Token"];
            var role = entry["Role"];
            if (string.IsNullOrWhiteSpace(token))
            {
                throw new InvalidOperationException($"Auth:Tokens:{entry.Key}:Token is empty.");
            }

            // One token, one grant: with two, which role it carries would depend on the order of the configuration.
            if (!seen.TryAdd(token, entry.Key))
            {
                throw new InvalidOperationException(
                    $"Auth:Tokens:{entry.Key}:Token is the same token as Auth:Tokens:{seen[token]}:Token; configure each token once.");
            }

            if (!EdgeRoles.IsKnown(role))
            {
                throw new InvalidOperationException(
                    $"Auth:Tokens:{entry.Key}:Role must be storefront, seller, partner or admin, not '{role}'.");
            }

            var stores = entry.GetSection("Stores").GetChildren().Select(s => s.Value).OfType<string>().ToList();
            if (role == EdgeRoles.Admin)
            {
                stores = [EdgePolicies.AllStores];
            }
            else if (stores.Count == 0)
            {
                throw new InvalidOperationException($"Auth:Tokens:{entry.Key}:Stores names no store (use * for all).");
            }

            tokens.Add((token, new TokenGrant(role!, stores)));
        }

        return new TokenRegistry(tokens);
    }

    private static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
