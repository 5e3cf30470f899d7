namespace ShopAstro.EdgeApi.Http;

/// <summary>Store and subject ids: 1 to 128 characters of <c>A-Z a-z 0-9 . _ : -</c>.</summary>
public static class Ids
{
    public const int MaxLength = 128;
    public const string AnonymousPrefix = "anon:";

    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
            {
                return false;
            }
        }

        return true;
    }
}
