/* rotbench hadamard: which Hadamard construction a size uses
 * (kernels/hadamard.h), or why none applies.  Exit status 0 when the size is
 * supported, 1 when no construction applies (the answer is still printed),
 * 2 for a usage error. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>

#include "app/cli.h"
#include "kernels/hadamard.h"

static void hadamard_usage(FILE *f) {
    fputs("usage: rotbench hadamard --size N [--json]\n"
          "  Prints how the Hadamard transform of size N is built: N = k · 2^m with the\n"
          "  fast Walsh-Hadamard transform on 2^m and the base matrix of order k (Paley I,\n"
          "  Paley II over GF(p^e), Williamson 156/172, Kronecker products), or why no\n"
          "  construction applies and the nearest supported sizes.\n"
          "  --json   one JSON object: size, supported, k, m, construction, q, p, e, a, b,\n"
          "           anchor, description (or reason, nearest_below, nearest_above)\n"
          "Exit status: 0 supported, 1 not supported, 2 usage error.\n",
          f);
}

static const char *kind_name(rb_hadamard_kind kind) {
    switch (kind) {
    case RB_HADAMARD_SYLVESTER: return "sylvester";
    case RB_HADAMARD_PALEY1: return "paley1";
    case RB_HADAMARD_PALEY2: return "paley2";
    case RB_HADAMARD_WILLIAMSON: return "williamson";
    case RB_HADAMARD_KRONECKER: return "kronecker";
    default: return "none";
    }
}

static void print_json(int n, int rc, const char *text) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "size", json_object_new_int(n));
    json_object_object_add(o, "supported", json_object_new_boolean(rc == RB_OK));
    int k, m;
    rb_hadamard_order info;
    if (rc == RB_OK && rb_hadamard_factor(n, &k, &m, NULL) == RB_OK &&
        rb_hadamard_order_info(k, &info, NULL) == RB_OK) {
        json_object_object_add(o, "k", json_object_new_int(k));
        json_object_object_add(o, "m", json_object_new_int(m));
        json_object_object_add(o, "construction", json_object_new_string(kind_name(info.kind)));
        if (info.kind == RB_HADAMARD_PALEY1 || info.kind == RB_HADAMARD_PALEY2) {
            json_object_object_add(o, "q", json_object_new_int(info.q));
            json_object_object_add(o, "p", json_object_new_int(info.p));
            json_object_object_add(o, "e", json_object_new_int(info.e));
        }
        if (info.kind == RB_HADAMARD_KRONECKER || info.kind == RB_HADAMARD_WILLIAMSON)
            json_object_object_add(o, "a", json_object_new_int(info.a));
        if (info.kind == RB_HADAMARD_KRONECKER)
            json_object_object_add(o, "b", json_object_new_int(info.b));
        json_object_object_add(o, "anchor", json_object_new_boolean(info.anchor));
        json_object_object_add(o, "description", json_object_new_string(text));
    } else {
        int below, above;
        rb_hadamard_nearest(n, &below, &above);
        json_object_object_add(o, "reason", json_object_new_string(text));
        json_object_object_add(o, "nearest_below", json_object_new_int(below));
        json_object_object_add(o, "nearest_above", json_object_new_int(above));
    }
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

int rb_cmd_hadamard(int argc, char **argv) {
    long n = 0;
    int json = 0, have = 0;
    static const struct option opts[] = {{"size", required_argument, 0, 's'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 's': n = rb_cli_int("--size", optarg, 1, 1L << 30); have = 1; break;
        case 'j': json = 1; break;
        case 'h': hadamard_usage(stdout); return 0;
        default: hadamard_usage(stderr); return 2;
        }
    }
    if (!have || optind < argc) {
        hadamard_usage(stderr);
        return 2;
    }
    char text[800];
    int rc = rb_hadamard_describe((int)n, text, sizeof text);
    if (json) print_json((int)n, rc, text);
    else puts(text);
    return rc == RB_OK ? 0 : 1;
}
